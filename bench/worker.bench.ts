/**
 * The Workers benchmark (issue 6, "How it is checked"). Run: `npm run bench -- worker` (or `npx tsx bench/worker.bench.ts`).
 * POST /token (a full exchange: client_secret_basic, RFC 9068 subject token of an inline-JWKS IdP, scope decision with
 * the example policies, mint) under autocannon (10 connections, 5 s after a warm-up), served by:
 *   1. Node (@hono/node-server) with the same hono app (createApp) and a memory store;
 *   2. `wrangler dev` (local workerd) with BATON_STORE=memory: the same app as a Worker, the bundled policies;
 *   3. `wrangler dev` with the Durable Object store (the deployed shape; rate-limit windows go through the object).
 * Reported as requests/s and the ratio to Node. No pass/fail goal: local workerd (with wrangler's dev proxy in front)
 * is not production. No network: no login, no metrics, no Request.cf fetch. Keys are generated for the run.
 */
import { serve, type ServerType } from '@hono/node-server';
import { spawn, type ChildProcess } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportJWK, generateKeyPair, importJWK, SignJWT } from 'jose';
import { parseConfig, substituteEnv } from '../src/config/schema.js';
import { TokenService } from '../src/exchange/index.js';
import { engineScopePolicy } from '../src/exchange/policy-scope.js';
import { GRANT_TOKEN_EXCHANGE, TT_ACCESS_TOKEN, TT_TXN_TOKEN } from '../src/txn/index.js';
import { generateSigningJwk, SigningKeySet, toPublicJwk } from '../src/jose/keys.js';
import { readPolicies } from '../src/policy/fs.node.js';
import { createEngine } from '../src/policy/index.js';
import { createApp } from '../src/server/app.js';
import { MemoryStore } from '../src/store/memory.js';
import { runAutocannon, type LoadResult } from './lib/autocannon.js';
import { fmt, machineLine, printTable, type Cell } from './lib/table.js';
import { freePort } from '../test/helpers/net.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const QUICK = process.env.BENCH_QUICK === '1';
const SECONDS = QUICK ? 2 : 5;
const SECRET = `bench-${crypto.randomUUID()}`;

// ---------------------------------------------------------------- one configuration for both runtimes
const signing = await generateSigningJwk('EdDSA');
const { privateKey: idpPriv } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
const idpJwk = { ...(await exportJWK(idpPriv)), kid: 'bench-idp', alg: 'EdDSA' };
const rawConfig = {
  issuer: 'http://127.0.0.1',
  trustDomain: 'support.example',
  policies: 'policies',
  subjectIssuers: [{ issuer: 'https://idp.bench', jwks: { keys: [toPublicJwk(idpJwk)] }, audiences: ['https://mcp.support.example'], rolesClaim: 'roles' }],
  clients: [
    {
      id: 'mcp-support-agent',
      auth: 'client_secret_basic',
      secret: '${BENCH_SECRET}',
      scopes: ['tickets:read', 'tickets:write', 'orders:read', 'orders:refund'],
      subjectAudiences: ['https://mcp.support.example'],
    },
  ],
  allowedRequestDetails: ['tool', 'ticket_id'],
  defaultRateLimit: { perClient: 1_000_000_000, perSubject: 1_000_000_000, windowSeconds: 3600 },
};

const now = Math.floor(Date.now() / 1000);
const subject = await new SignJWT({ scope: 'tickets:read tickets:write orders:read', roles: ['user'], client_id: 'bench' })
  .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: 'bench-idp' })
  .setIssuer('https://idp.bench')
  .setSubject('user-1')
  .setAudience('https://mcp.support.example')
  .setIssuedAt(now)
  .setExpirationTime(now + 3600)
  .sign(await importJWK(idpJwk, 'EdDSA'));
const body = new URLSearchParams({
  grant_type: GRANT_TOKEN_EXCHANGE,
  requested_token_type: TT_TXN_TOKEN,
  audience: 'support.example',
  scope: 'tickets:read orders:read',
  subject_token: subject,
  subject_token_type: TT_ACCESS_TOKEN,
  request_details: JSON.stringify({ tool: 'get_ticket', ticket_id: 'T-1001' }),
}).toString();
const headers = { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${btoa(`mcp-support-agent:${SECRET}`)}` };

async function checkOnce(base: string): Promise<void> {
  const res = await fetch(`${base}/token`, { method: 'POST', headers, body });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${base}: sanity exchange answered ${res.status}: ${text.slice(0, 300)}`);
}

async function load(base: string): Promise<LoadResult> {
  await runAutocannon({ url: `${base}/token`, method: 'POST', headers, body, connections: 10, duration: 1 }); // warm-up
  return runAutocannon({ url: `${base}/token`, method: 'POST', headers, body, connections: 10, duration: SECONDS });
}

// ---------------------------------------------------------------- 1. Node
const config = parseConfig(substituteEnv(rawConfig, { BENCH_SECRET: SECRET }, 'bench'), 'bench');
const service = await TokenService.create({
  config,
  keys: await SigningKeySet.fromJwks([signing]),
  store: new MemoryStore(),
  policy: engineScopePolicy(createEngine({ policies: readPolicies(join(root, 'policies')) })),
});
const app = createApp({ service, remoteAddr: () => '127.0.0.1' });
const server = await new Promise<ServerType>((ok, fail) => {
  const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => ok(s));
  s.once('error', fail);
});
const nodeBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
await checkOnce(nodeBase);
process.stderr.write('node: loading...\n');
const nodeResult = await load(nodeBase);
await new Promise<void>((r) => server.close(() => r()));

// ---------------------------------------------------------------- 2./3. wrangler dev (local workerd)

async function withWranglerDev<T>(store: 'memory' | 'durable-object', run: (base: string) => Promise<T>): Promise<T> {
  const port = await freePort();
  const vars = {
    BATON_CONFIG: JSON.stringify(rawConfig),
    BATON_SIGNING_KEYS: JSON.stringify([signing]),
    BENCH_SECRET: SECRET,
    BATON_STORE: store,
    BATON_DECISION_LOG: 'off',
  };
  const args = [join(root, 'node_modules/wrangler/bin/wrangler.js'), 'dev', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'error', '--show-interactive-dev-session=false'];
  for (const [k, v] of Object.entries(vars)) args.push('--var', `${k}:${v}`);
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: root,
    detached: true, // its own process group: stopped as a whole below, by this pid
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', WRANGLER_HIDE_BANNER: 'true', CLOUDFLARE_CF_FETCH_ENABLED: 'false', CI: 'true' },
  });
  let err = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-2000)));
  const base = `http://127.0.0.1:${port}`;
  try {
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`wrangler dev exited with ${child.exitCode}: ${err}`);
      try {
        const r = await fetch(`${base}/healthz`);
        if (r.status === 200) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`wrangler dev did not become healthy: ${err}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    await checkOnce(base);
    process.stderr.write(`wrangler dev (${store}): loading...\n`);
    return await run(base);
  } finally {
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      // already gone
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

const workerMemory = await withWranglerDev('memory', load);
const workerDo = await withWranglerDev('durable-object', load);

// ---------------------------------------------------------------- report
const row = (name: string, r: LoadResult): Cell[] => [
  name,
  fmt(r.requestsPerSec),
  fmt(r.p50, 1),
  fmt(r.p99, 1),
  String(r.non2xx + r.errors + r.timeouts),
  (r.requestsPerSec / nodeResult.requestsPerSec).toFixed(2),
];
console.log(machineLine());
printTable(
  `POST /token, 10 connections, ${SECONDS} s (a full exchange with the example policies)`,
  ['server', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx/errors', 'ratio to Node'],
  [row('Node (@hono/node-server), memory store', nodeResult), row('wrangler dev (workerd), memory store', workerMemory), row('wrangler dev (workerd), Durable Object store', workerDo)],
);
console.log('No goal: local workerd behind wrangler\'s dev proxy is not production; the ratio is reported for comparison only.');
