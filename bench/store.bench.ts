/**
 * The cost of the Redis-backed path (issue 5, "How it is checked"). Run: `npm run bench -- store`
 * (or `npx tsx bench/store.bench.ts`). In ONE run, with the same configuration, keys and subject token:
 *   1. TokenService.exchange in-process, client_secret_basic, one pre-minted subject token: N = 2000 exchanges after
 *      a warm-up, awaited one at a time (latency-bound: every store round trip is on the critical path) and with 10
 *      in flight (how a server uses it), memory store vs Redis store, interleaved rounds, best of;
 *   2. HTTP POST /token under autocannon (10 connections, 5 s after a 1 s warm-up) against a Node TTS with each store.
 * Each exchange makes one store call: `rateLimitAll` with its two rate limits (per client, per (client, subject)), one
 * Lua script and one round trip on Redis, started before the subject token is validated so that the round trip
 * overlaps that work; private_key_jwt adds the jti check (`useOnce`), not measured here. Goal: the Redis store costs
 * at most 25% of exchange throughput.
 * Redis: BATON_BENCH_REDIS_URL, else BATON_TEST_REDIS_URL, else 127.0.0.1:6379 when it answers, else a private
 * redis-server started (and stopped) by this benchmark. Keys live under a per-run prefix and are deleted at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { Redis } from 'ioredis';
import { generateKeyFile } from '../src/cli/keys.js';
import { parseConfig, type Config } from '../src/config/schema.js';
import { GRANT_TOKEN_EXCHANGE, TT_ACCESS_TOKEN, TT_TXN_TOKEN } from '../src/txn/index.js';
import { buildNode, startNode, type BatonNode, type RunningNode } from '../src/node.js';
import { warmAndRun, type LoadResult } from './lib/autocannon.js';
import { fmt, machineLine, passMiss, pct, printTable, type Cell } from './lib/table.js';
import { measureAsync, type Measurement } from './lib/timing.js';
import { freePort } from '../test/helpers/net.js';

const QUICK = process.env.BENCH_QUICK === '1';
const N = 2000;
const WARMUP = 500;
const ROUNDS = QUICK ? 1 : 3;
const HTTP_SECONDS = QUICK ? 2 : 5;
const COST_GOAL = 0.25;
const SECRET = 'bench-secret-0123456789';

// ---------------------------------------------------------------- Redis: configured, local, or a private one
function answers(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host, port });
    const done = (ok: boolean): void => {
      clearTimeout(t);
      s.destroy();
      resolve(ok);
    };
    const t = setTimeout(() => done(false), timeoutMs);
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => done(d.toString('utf8').startsWith('+PONG')));
    s.on('error', () => done(false));
  });
}


async function redisForBench(): Promise<{ url: string; child?: ChildProcess }> {
  const given = process.env.BATON_BENCH_REDIS_URL || process.env.BATON_TEST_REDIS_URL;
  if (given) return { url: given };
  if (await answers(6379)) return { url: 'redis://127.0.0.1:6379' };
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  child.on('error', () => {});
  for (let i = 0; i < 100; i++) {
    if (await answers(port)) return { url: `redis://127.0.0.1:${port}`, child };
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error('no Redis: 127.0.0.1:6379 silent and a private redis-server did not start (set BATON_BENCH_REDIS_URL)');
}

// ---------------------------------------------------------------- setup
const redis = await redisForBench();
const keyPrefix = `baton-bench:${randomUUID()}:`;
const keysDir = mkdtempSync(join(tmpdir(), 'baton-store-bench-'));
await generateKeyFile(keysDir, 'EdDSA');
const idp = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
const idpPublic = { ...(await exportJWK(idp.publicKey)), kid: 'idp-1', alg: 'EdDSA', use: 'sig' };

function configWith(store: unknown): Config {
  return parseConfig(
    {
      issuer: 'http://tts.bench',
      trustDomain: 'bench.example',
      keys: keysDir,
      store,
      defaultRateLimit: { perClient: 1_000_000_000, perSubject: 1_000_000_000, windowSeconds: 3600 },
      subjectIssuers: [{ issuer: 'https://idp.bench', jwks: { keys: [idpPublic] }, audiences: ['mcp'], algorithms: ['EdDSA'] }],
      clients: [{ id: 'bench-agent', auth: 'client_secret_basic', secret: SECRET, scopes: ['tickets:read', 'tickets:write'], subjectAudiences: ['mcp'] }],
    },
    'store bench',
  );
}

const now = Math.floor(Date.now() / 1000);
const subjectToken = await new SignJWT({ scope: 'tickets:read tickets:write' })
  .setProtectedHeader({ alg: 'EdDSA', kid: 'idp-1', typ: 'at+jwt' })
  .setIssuer('https://idp.bench')
  .setSubject('alice')
  .setAudience('mcp')
  .setIssuedAt(now)
  .setExpirationTime(now + 3600)
  .sign(idp.privateKey);
const body = new URLSearchParams({
  grant_type: GRANT_TOKEN_EXCHANGE,
  requested_token_type: TT_TXN_TOKEN,
  audience: 'bench.example',
  scope: 'tickets:read',
  subject_token: subjectToken,
  subject_token_type: TT_ACCESS_TOKEN,
}).toString();
const authorization = `Basic ${btoa(`bench-agent:${SECRET}`)}`;
const say = (): void => {};
const loaded = (config: Config) => ({ config, file: 'bench', resolvePath: (p: string) => p });

const memCfg = configWith('memory');
const redisCfg = configWith({ url: redis.url, keyPrefix });
const nodes: Record<'memory' | 'redis', BatonNode> = {
  memory: await buildNode({ loaded: loaded(memCfg), say }),
  redis: await buildNode({ loaded: loaded(redisCfg), say }),
};
if (nodes.redis.store.backend !== 'redis') throw new Error('the Redis node did not get a Redis store');
const health = await nodes.redis.store.health();
if (!health.ok) throw new Error(`Redis store not healthy: ${health.detail ?? ''}`);

const exchangeOnce = (node: BatonNode) => () =>
  node.service.exchange({ form: new URLSearchParams(body), authorization, remoteAddr: '127.0.0.1' });

// Sanity: both answer with a Txn-Token.
for (const n of Object.values(nodes)) {
  const r = await exchangeOnce(n)();
  if (typeof r.access_token !== 'string') throw new Error('exchange returned no token');
}

// ---------------------------------------------------------------- 1. in-process
async function sequential(name: string, node: BatonNode): Promise<Measurement> {
  const fn = exchangeOnce(node);
  return measureAsync(name, () => fn(), { warmupMs: 60_000, maxWarmupIterations: WARMUP, durationMs: 600_000, maxIterations: N, perOp: true });
}

/** N exchanges with `inflight` in flight at any time. */
async function concurrent(name: string, node: BatonNode, inflight: number): Promise<Measurement> {
  const fn = exchangeOnce(node);
  const drive = async (count: number): Promise<void> => {
    let next = 0;
    await Promise.all(
      Array.from({ length: inflight }, async () => {
        while (next++ < count) await fn();
      }),
    );
  };
  await drive(WARMUP);
  const t0 = process.hrtime.bigint();
  await drive(N);
  const totalMs = Number(process.hrtime.bigint() - t0) / 1e6;
  return { name, iterations: N, totalMs, opsPerSec: N / (totalMs / 1000), usPerOp: (totalMs * 1000) / N };
}

const best: Record<string, Measurement> = {};
const keep = (m: Measurement): void => {
  const prev = best[m.name];
  if (prev === undefined || m.opsPerSec > prev.opsPerSec) best[m.name] = m;
};
for (let round = 0; round < ROUNDS; round++) {
  // Interleaved, so that drift of a shared machine touches both stores alike.
  keep(await sequential('seq memory', nodes.memory));
  keep(await sequential('seq redis', nodes.redis));
  keep(await concurrent('c10 memory', nodes.memory, 10));
  keep(await concurrent('c10 redis', nodes.redis, 10));
}

// Store alone: the store call an exchange makes (both limits in one rateLimitAll), and the same as two rateLimit calls.
const storeOnlyOpts = { warmupMs: 60_000, maxWarmupIterations: WARMUP, durationMs: 600_000, maxIterations: N, perOp: true };
const probeChecks = [
  { key: 'rl:bench-probe', limit: 1_000_000_000, windowMs: 3_600_000 },
  { key: 'rl:bench-probe2', limit: 1_000_000_000, windowMs: 3_600_000 },
];
const redisStore = nodes.redis.store;
if (redisStore.rateLimitAll === undefined) throw new Error('the Redis store has no rateLimitAll');
const storeAll = await measureAsync('redis rateLimitAll', () => redisStore.rateLimitAll!(probeChecks), storeOnlyOpts);
const storeOnly = await measureAsync(
  'redis 2x rateLimit',
  async () => {
    await redisStore.rateLimit('rl:bench-probe', 1_000_000_000, 3_600_000);
    await redisStore.rateLimit('rl:bench-probe2', 1_000_000_000, 3_600_000);
  },
  storeOnlyOpts,
);

// ---------------------------------------------------------------- 2. HTTP
async function http(store: 'memory' | 'redis'): Promise<LoadResult> {
  const running: RunningNode = await startNode({ loaded: loaded(store === 'memory' ? memCfg : redisCfg), port: 0, say });
  try {
    return await warmAndRun({
      url: `${running.url}/token`,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization },
      body,
      connections: 10,
      duration: HTTP_SECONDS,
    });
  } finally {
    await running.close();
  }
}
const httpMem = await http('memory');
const httpRedis = await http('redis');

// ---------------------------------------------------------------- report
const cost = (mem: number, red: number): number => 1 - red / mem;
const rows: Cell[][] = [];
const pair = (label: string, mem: Measurement, red: Measurement): void => {
  const c = cost(mem.opsPerSec, red.opsPerSec);
  rows.push([`${label} memory`, fmt(mem.opsPerSec), fmt(mem.usPerOp, 1), fmt(mem.p99Us, 0), '', '', '', '']);
  rows.push([`${label} redis`, fmt(red.opsPerSec), fmt(red.usPerOp, 1), fmt(red.p99Us, 0), pct(red.opsPerSec / mem.opsPerSec), pct(c), `cost <= ${pct(COST_GOAL)}`, passMiss(c <= COST_GOAL)]);
};
pair('in-process, 1 at a time,', best['seq memory']!, best['seq redis']!);
pair('in-process, 10 in flight,', best['c10 memory']!, best['c10 redis']!);
const hc = cost(httpMem.requestsPerSec, httpRedis.requestsPerSec);
rows.push(['HTTP /token (autocannon -c 10) memory', fmt(httpMem.requestsPerSec), fmt(httpMem.mean * 1000, 0), fmt(httpMem.p99 * 1000, 0), '', '', '', '']);
rows.push([
  'HTTP /token (autocannon -c 10) redis', fmt(httpRedis.requestsPerSec), fmt(httpRedis.mean * 1000, 0), fmt(httpRedis.p99 * 1000, 0),
  pct(httpRedis.requestsPerSec / httpMem.requestsPerSec), pct(hc), `cost <= ${pct(COST_GOAL)}`, passMiss(hc <= COST_GOAL),
]);
rows.push(['Redis alone: 1 rateLimitAll (2 limits), 1 at a time', fmt(storeAll.opsPerSec), fmt(storeAll.usPerOp, 1), fmt(storeAll.p99Us, 0), '', '', '', '']);
rows.push(['Redis alone: 2 rateLimit calls, 1 at a time', fmt(storeOnly.opsPerSec), fmt(storeOnly.usPerOp, 1), fmt(storeOnly.p99Us, 0), '', '', '', '']);

console.log(machineLine());
console.log(`redis: ${redis.child === undefined ? 'shared' : 'private'} at ${new URL(redis.url).host}; N = ${N} after ${WARMUP} warm-up, best of ${ROUNDS} interleaved rounds; HTTP ${HTTP_SECONDS} s after 1 s warm-up`);
printTable(
  'Store benchmark: exchange throughput, memory vs Redis store (client_secret_basic, pre-minted subject token)',
  ['measure', 'req/s', 'µs/req (mean)', 'p99 µs', 'redis/memory', 'redis cost', 'goal', 'result'],
  rows,
  ['left', 'right', 'right', 'right', 'right', 'right', 'left', 'left'],
);
const bad = [httpMem, httpRedis].filter((r) => r.non2xx > 0 || r.errors > 0);
if (bad.length > 0) console.log(`WARNING: HTTP runs had non-2xx or errors: ${JSON.stringify(bad.map((r) => ({ non2xx: r.non2xx, errors: r.errors })))}`);

// ---------------------------------------------------------------- cleanup
for (const n of Object.values(nodes)) await n.store.close();
const r = new Redis(redis.url, { maxRetriesPerRequest: 1 });
let cursor = '0';
do {
  const [next, keys] = await r.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 1000);
  cursor = next;
  if (keys.length > 0) await r.unlink(...keys);
} while (cursor !== '0');
r.disconnect();
redis.child?.kill('SIGKILL');
rmSync(keysDir, { recursive: true, force: true });
if (bad.length > 0) process.exitCode = 1;
