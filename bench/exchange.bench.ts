/**
 * The exchange benchmark (issues 2 and 13). Run: `npm run bench -- exchange` (or `npx tsx bench/exchange.bench.ts`;
 * BENCH_QUICK=1 for a short run). Reports, in one run, with decision logging on at its defaults (as `baton serve`;
 * lines go to /dev/null):
 *   1. the crypto floor: one node:crypto Ed25519 verification of a subject token (the dev IdP's algorithm and key)
 *      plus one node:crypto Ed25519 signature of a Txn-Token-sized signing input with the TTS key;
 *   2. TokenService.exchange in-process (the form read from the body by parseFormBody, as over HTTP; parse,
 *      client_secret_basic, subject validation, scope decision with the example policies, mint) with a fresh subject
 *      token each time and with a repeated one, as a ratio of (1);
 *   3. HTTP POST /token under autocannon (10 connections, 3 s per round after a 1 s warm-up) beside GET /hello served
 *      by the same Node server (startNode's listener: /token on node:http, /hello through the hono app), in the same
 *      interleaved rounds as (1) and (2), best round kept as for them;
 * then where the CPU goes, stage by stage, from V8's sampling profiler (in process and over HTTP; each table adds up
 * to the whole), and the goals of issue 13 it measures (rows 1-4 of bench/lib/goals.ts). The default configuration is
 * used (baton.config.yaml), with keys in a temporary directory and rate limits raised so they never trigger.
 */
import { createServer, type Server } from 'node:http';
import { Hono } from 'hono';
import { SignJWT, importJWK, decodeProtectedHeader, type JWK, type CryptoKey as JoseKey } from 'jose';
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { loadDevIdpKey, readKeyFiles } from '../src/cli/keys.js';
import { DEV_IDP_ISSUER } from '../src/dev-idp.js';
import { loadConfigFile } from '../src/config/load.node.js';
import type { Config } from '../src/config/schema.js';
import { engineScopePolicy } from '../src/exchange/policy-scope.js';
import { parseFormBody } from '../src/exchange/request.js';
import { GRANT_TOKEN_EXCHANGE, TT_ACCESS_TOKEN, TT_TXN_TOKEN } from '../src/txn/index.js';
import type { ScopePolicy } from '../src/exchange/scope.js';
import { buildNode, ttsRequestListener } from '../src/node.js';
import { createEngine } from '../src/policy/index.js';
import { readPolicies } from '../src/policy/fs.node.js';
import { runAutocannon, type LoadOptions, type LoadResult } from './lib/autocannon.js';
import { fmt, machine, machineLine, pct, printTable, type Cell } from './lib/table.js';
import { cpuSince, measureAsync, measureSync, settle, type Measurement } from './lib/timing.js';
import { recordGoals } from './lib/goals.js';
import { profile, stageShares, type StageShare, type StageSpec } from './lib/profile.js';
import { createDecisionLogger, useStdoutWriter } from '../src/log/index.js';
import { createAsyncLineWriter } from '../src/log/sink.node.js';
import { percentileSorted } from './lib/stats.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const QUICK = process.env.BENCH_QUICK === '1';
const ROUND_MS = QUICK ? 600 : 1500;
const ROUNDS = QUICK ? 2 : 3;
const HTTP_SECONDS = QUICK ? 1 : 3; // per round
const FRESH_TOKENS = QUICK ? 4000 : 15000;
const PROFILE_TOKENS = QUICK ? 1500 : 4000;
const YIELD_EVERY = 10; // a turn of the event loop every 10 exchanges (the decision log's batches are written then)

// ---------------------------------------------------------------- setup: the default configuration, bench keys
const keysDir = mkdtempSync(join(tmpdir(), 'baton-bench-'));
const loaded = loadConfigFile(join(root, 'baton.config.yaml'), { ...process.env, BATON_DEV_CLIENT_SECRET: 'dev-secret-change-me' });
const config: Config = {
  ...loaded.config,
  keys: keysDir,
  dev: { idp: true },
  defaultRateLimit: { perClient: 1_000_000_000, perSubject: 1_000_000_000, windowSeconds: 3600 },
};
if (config.signingAlg !== 'EdDSA') throw new Error('the benchmark expects signingAlg EdDSA in baton.config.yaml');
const client = config.clients.find((c) => c.auth === 'client_secret_basic');
if (client?.secret === undefined) throw new Error('the default configuration has no client_secret_basic client');
const secret = client.secret;
const audience = config.trustDomain ?? config.trustDomains![0]!;
const subjectAud = client.subjectAudiences[0]!;

const engine = createEngine({ policies: readPolicies(join(root, 'policies')) });
const enginePolicy = engineScopePolicy(engine);
// the same policy, timed: how long the scope decision takes inside the real pipeline
let policyNs = 0;
let policyCalls = 0;
let policyScopes = 0;
const policyPerScopeNs: number[] = [];
let timingPolicy = true;
let lastPolicyInput: Parameters<ScopePolicy['allowedScopes']>[0] | undefined;
const policy: ScopePolicy = {
  allowedScopes(input, candidates) {
    lastPolicyInput = input;
    if (!timingPolicy) return enginePolicy.allowedScopes(input, candidates);
    const t = process.hrtime.bigint();
    try {
      return enginePolicy.allowedScopes(input, candidates);
    } finally {
      const ns = Number(process.hrtime.bigint() - t);
      policyNs += ns;
      policyCalls++;
      policyScopes += candidates.length;
      policyPerScopeNs.push(ns / candidates.length);
    }
  },
};
// Decision logging on, at its defaults, as `baton serve` runs it: createDecisionLogger on standard output through the
// Node writer (batched asynchronous writes). Only the destination differs: /dev/null, so the bench prints no decision line.
const devNull = openSync('/dev/null', 'w');
const node = await buildNode({ loaded: { config, file: 'bench', resolvePath: (p) => resolve(root, p) }, policy, onDecision: createDecisionLogger().sink, say: () => {} });
const logWriter = createAsyncLineWriter({ fd: devNull });
useStdoutWriter(logWriter);
const service = node.service;

// the dev IdP (subject tokens) and the TTS signing key, both EdDSA/Ed25519
const { privateJwk: idpJwk, publicJwks: idpPublic } = await loadDevIdpKey(keysDir);
const idpKey = (await importJWK(idpJwk, 'EdDSA')) as JoseKey;
const ttsJwk = readKeyFiles(keysDir)[0]!;
if (ttsJwk.kid !== service.keys.current.kid) throw new Error('TTS key mismatch');

/** A subject token as the dev IdP (`baton dev token`) makes it: RFC 9068 at+jwt, EdDSA. */
async function subjectToken(i: number): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ scope: 'tickets:read tickets:write orders:read', roles: ['user'], client_id: 'baton-dev', amr: ['pwd'], email: `user${i}@example.com` })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: idpJwk.kid! })
    .setIssuer(DEV_IDP_ISSUER)
    .setSubject(`user-${i}`)
    .setAudience(subjectAud)
    .setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .setJti(crypto.randomUUID())
    .sign(idpKey);
}

const authorization = `Basic ${Buffer.from(`${encodeURIComponent(client.id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
const requestedScope = 'tickets:read tickets:write orders:read';
/**
 * A token request's body as the HTTP path hands it to parseFormBody: a string decoded from the bytes read off the socket
 * (readNodeBody: one Buffer, `toString('utf8')`), i.e. one flat string. URLSearchParams.toString() builds it by
 * concatenation (a rope that V8 flattens on the first read, costing the in-process rows 2-5 µs the HTTP path never pays).
 */
function formBody(token: string): string {
  const body = new URLSearchParams({
    grant_type: GRANT_TOKEN_EXCHANGE,
    requested_token_type: TT_TXN_TOKEN,
    audience,
    scope: requestedScope,
    subject_token: token,
    subject_token_type: TT_ACCESS_TOKEN,
    request_details: JSON.stringify({ tool: 'get_ticket', ticket_id: 'T-1001' }),
  }).toString();
  return Buffer.from(body, 'utf8').toString('utf8');
}

const repeatedToken = await subjectToken(0);
const repeatedBody = formBody(repeatedToken);

// sanity: one exchange succeeds and is what a real client gets
const sample = await service.exchange({ form: parseFormBody(repeatedBody), authorization, remoteAddr: '127.0.0.1' });
const sampleClaims = await service.verifyOwnTxnToken(sample.access_token);
const granted = sampleClaims.scope;
if (granted.length === 0) throw new Error('sanity exchange granted no scope');

// ---------------------------------------------------------------- 1. crypto floor (node:crypto, synchronous)
const idpPub = createPublicKey({ key: idpPublic.keys.find((k) => k.kid === idpJwk.kid)! as JWK & { kty: string }, format: 'jwk' });
const ttsPriv = createPrivateKey({ key: ttsJwk as JWK & { kty: string }, format: 'jwk' });
const [sh, sp, ss] = repeatedToken.split('.') as [string, string, string];
const subjectInput = Buffer.from(`${sh}.${sp}`);
const subjectSig = Buffer.from(ss, 'base64url');
const txnParts = sample.access_token.split('.');
const txnInput = Buffer.from(`${txnParts[0]}.${txnParts[1]}`); // a real Txn-Token's signing input (same size)
if (!nodeVerify(null, subjectInput, idpPub, subjectSig)) throw new Error('floor: subject signature does not verify');

// ---------------------------------------------------------------- 3. HTTP under autocannon: the server (measured below)
let firstRequestCpu: NodeJS.CpuUsage | null | undefined; // undefined: not measuring
// served as `baton serve` serves it (startNode's listener: POST /token on node:http, the rest through the hono app),
// with GET /hello added to the hono app
const app = new Hono();
app.get('/hello', (c) => c.text('Hello, world!'));
app.route('/', node.app);
const server = await new Promise<Server>((ok, fail) => {
  const listener = ttsRequestListener({ service: node.service, app, observer: node.observer, hostname: '127.0.0.1' });
  const s = createServer((req, res) => {
    if (firstRequestCpu === null) {
      firstRequestCpu = process.cpuUsage(); // a measured run starts with its first request
      firstRequestSplit = { usage: process.resourceUsage(), main: mainThreadUs() };
    }
    listener(req, res);
  });
  s.once('error', fail);
  s.listen(0, '127.0.0.1', () => ok(s));
});
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const tokenHeaders = { 'content-type': 'application/x-www-form-urlencoded', authorization };
{
  const r = await fetch(`${base}/token`, { method: 'POST', headers: tokenHeaders, body: repeatedBody });
  if (r.status !== 200) throw new Error(`HTTP sanity exchange: status ${r.status}`);
  const h = await fetch(`${base}/hello`);
  if ((await h.text()) !== 'Hello, world!') throw new Error('HTTP sanity hello failed');
}
// ---------------------------------------------------------------- 2. in-process exchange
process.stderr.write(`pre-minting ${FRESH_TOKENS} subject tokens...\n`);
const freshBodies: string[] = [];
for (let i = 1; i <= FRESH_TOKENS + PROFILE_TOKENS; i++) freshBodies.push(formBody(await subjectToken(i)));
const WARM_FRESH = QUICK ? 200 : 500;

// the form read from the body as the HTTP path reads it (parseFormBody: the pairs URLSearchParams gives, without one)
const exchangeOnce = (body: string) => service.exchange({ form: parseFormBody(body), authorization, remoteAddr: '127.0.0.1' });

/** CPU µs of the main thread (the event loop) so far, from /proc (Linux; NaN elsewhere): the rest of the process's CPU is V8's and libuv's helper threads. */
function mainThreadUs(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1e6) / 100; // utime + stime, in clock ticks of 10 ms
  } catch {
    return Number.NaN;
  }
}
/** Where a route's server CPU goes, per request: user and kernel time, minor page faults, the main thread vs the helper threads. */
interface CpuSplit {
  userUs: number;
  systemUs: number;
  minorFaults: number;
  mainUs: number;
  helpersUs: number;
}
let firstRequestSplit: { usage: NodeJS.ResourceUsage; main: number } | undefined;
type Load = LoadResult & { serverCpuUs: number; split: CpuSplit };
/**
 * One measured autocannon run; also the server process's CPU per request during it, from its first request on (not
 * the CPU of spawning autocannon's process, which would weigh more on a route answering fewer requests per run).
 */
async function load(o: LoadOptions): Promise<Load> {
  firstRequestCpu = null;
  firstRequestSplit = undefined;
  const r = await runAutocannon(o);
  const n = Math.max(1, r.total);
  const first = firstRequestSplit as { usage: NodeJS.ResourceUsage; main: number } | undefined; // set by the first request
  const u0 = first?.usage ?? process.resourceUsage();
  const u1 = process.resourceUsage();
  const mainUs = (mainThreadUs() - (first?.main ?? Number.NaN)) / n;
  const cpuUs = cpuSince(firstRequestCpu ?? process.cpuUsage()) / n;
  const split = {
    userUs: (u1.userCPUTime - u0.userCPUTime) / n,
    systemUs: (u1.systemCPUTime - u0.systemCPUTime) / n,
    minorFaults: (u1.minorPageFault - u0.minorPageFault) / n,
    mainUs,
    helpersUs: cpuUs - mainUs,
  };
  return { ...r, serverCpuUs: cpuUs, split };
}
const helloLoad: LoadOptions = { url: `${base}/hello`, connections: 10, duration: HTTP_SECONDS };
const tokenLoad: LoadOptions = { url: `${base}/token`, method: 'POST', headers: tokenHeaders, body: repeatedBody, connections: 10, duration: HTTP_SECONDS };
const helloRounds: Load[] = [];
const httpRounds: Load[] = [];
/** As in process: the round with the most requests/s, with the least server CPU per request of the rounds (and that round's split). */
function bestLoad(rounds: Load[]): Load {
  const top = rounds.reduce((a, b) => (b.requestsPerSec > a.requestsPerSec ? b : a));
  const least = rounds.reduce((a, b) => (b.serverCpuUs < a.serverCpuUs ? b : a));
  return { ...top, serverCpuUs: least.serverCpuUs, split: least.split };
}
process.stderr.write(`autocannon: GET /hello and POST /token, 10 connections, a 1 s warm-up each, then ${HTTP_SECONDS} s each per round...\n`);
await runAutocannon({ ...helloLoad, duration: 1 });
await runAutocannon({ ...tokenLoad, duration: 1 });

// The machine is shared: the floor, the exchange in process and over HTTP (GET /hello, POST /token) are measured in
// interleaved rounds and the best round of each is reported (the one least disturbed by other processes; CPU: the least
// of the rounds), so that every ratio compares rounds taken under the same conditions; every round is printed too.
const floorVerifyRounds: Measurement[] = [];
const floorSignRounds: Measurement[] = [];
const floorRounds: Measurement[] = [];
const freshRounds: Measurement[] = [];
const repeatedRounds: Measurement[] = [];
let cursor = 0; // next unused fresh subject token
const perRound = Math.floor((FRESH_TOKENS - ROUNDS * WARM_FRESH) / ROUNDS);
for (let r = 0; r < ROUNDS; r++) {
  settle();
  floorVerifyRounds.push(measureSync('node:crypto Ed25519 verify (subject token)', () => nodeVerify(null, subjectInput, idpPub, Buffer.from(ss, 'base64url')), { durationMs: ROUND_MS / 2 }));
  floorSignRounds.push(measureSync('node:crypto Ed25519 sign (Txn-Token payload)', () => nodeSign(null, txnInput, ttsPriv), { durationMs: ROUND_MS / 2 }));
  floorRounds.push(
    measureSync(
      'crypto floor: verify + sign',
      () => {
        nodeVerify(null, subjectInput, idpPub, Buffer.from(ss, 'base64url')); // the base64url decode a verifier must do
        return nodeSign(null, txnInput, ttsPriv);
      },
      { durationMs: ROUND_MS },
    ),
  );
  settle();
  const start = cursor;
  freshRounds.push(
    await measureAsync('TokenService.exchange, fresh subject token', (i) => exchangeOnce(freshBodies[start + i]!), {
      warmupMs: 300,
      maxWarmupIterations: WARM_FRESH,
      durationMs: ROUND_MS,
      maxIterations: perRound,
      perOp: true,
      yieldEvery: YIELD_EVERY,
      threadCpuUs: mainThreadUs,
    }),
  );
  cursor = start + freshRounds[r]!.iterations + WARM_FRESH;
  settle();
  repeatedRounds.push(await measureAsync('TokenService.exchange, repeated subject token', () => exchangeOnce(repeatedBody), { warmupMs: 300, durationMs: ROUND_MS, perOp: true, yieldEvery: YIELD_EVERY }));
  helloRounds.push(await load(helloLoad));
  httpRounds.push(await load(tokenLoad));
}
const best = (ms: Measurement[]): Measurement => ms.reduce((a, b) => (b.opsPerSec > a.opsPerSec ? b : a));
const leastCpu = (ms: Measurement[]): number => Math.min(...ms.map((x) => x.cpuUsPerOp ?? Number.NaN));
const floorVerify = best(floorVerifyRounds);
const floorSign = best(floorSignRounds);
const floor = best(floorRounds);
const inFresh = best(freshRounds);
const inRepeated = best(repeatedRounds);

const hello = bestLoad(helloRounds);
const http = bestLoad(httpRounds);
// where the server's time goes under the same load (V8's sampling profiler while autocannon runs 2 s more)
timingPolicy = false;
const httpProfile = await profile(async () => void (await runAutocannon({ url: `${base}/token`, method: 'POST', headers: tokenHeaders, body: repeatedBody, connections: 10, duration: 2 })));
await new Promise<void>((r) => server.close(() => r()));
for (const x of httpRounds) if (x.non2xx > 0 || x.errors > 0) throw new Error(`HTTP exchange: ${x.non2xx} non-2xx responses, ${x.errors} errors under load`);

// ---------------------------------------------------------------- where the time goes (V8's sampling profiler)
// Fresh exchanges as in (2), under the profiler (`--cpu-prof`'s profiler, through node:inspector): every sample goes to
// one stage, so the stages add up to the whole; µs = share × the CPU per fresh exchange measured in (2).
const profileBodies = freshBodies.slice(FRESH_TOKENS);
const inProfile = await profile(async () => {
  for (let i = 0; i < profileBodies.length; i++) {
    await exchangeOnce(profileBodies[i]!);
    if ((i + 1) % YIELD_EVERY === 0) await new Promise((r) => setImmediate(r));
  }
  await logWriter.drain();
});
const inLog = (_f: string, url: string) => url.includes('/src/log/');
const GC: StageSpec = { name: 'garbage collection', functions: ['(garbage collector)'], finding: 'young-generation scavenges: the claims, JSON and base64url strings of two JWTs per exchange' };
const LOG: StageSpec = { name: 'decision log: stamped in the request; scrubbed, rendered, written in the batch', frame: inLog, finding: 'stamped in the request; in the batch the line rendered from the draft itself (no stamped, scrubbed or normalized copy; nested members such as dropped without a copy), each member scrubbed and rendered once; writeBuffer is one thread-pool fs.write per batch (~25 µs CPU), so its share per exchange grows as batches shrink (LINGER_MS 5: ~18 lines per batch on a loaded machine); bench/_log-ab.ts' };
// The scope policy names the deciding rule of a denied scope lazily (policy-scope.ts): the explained re-check runs when
// the decision line is rendered, in the log's batch. It is the scope policy's work, not the log's: counted before LOG.
const RULE_NAMING: StageSpec = {
  name: 'scope: naming the deciding rule of a denied scope (run when the line is rendered)',
  functions: ['decidingRules', 'nameDecidingRulesLater'],
  finding: 'the explained policy re-check for the one denied scope (tickets:write); was counted in the decision log stage',
};
const IN_STAGES: StageSpec[] = [
  GC,
  RULE_NAMING,
  LOG,
  { name: 'subject token: Ed25519 verify (node:crypto)', functions: ['verifyOneShot'], finding: "the floor's call (callgrind: the same 1.31 M instructions in EVP_DigestVerify); timed per call, a distinct token each time costs ~3 µs more than the floor's one repeated token, and ~3-5 µs more between the exchange's JS; the JS around it (key lookup, checks) < 1 µs" },
  { name: 'subject token: parse, profile, claim checks', functions: ['validateSubject', 'parseIssuedSubject'], finding: 'parsed once (JSON.parse of header and payload, for the limits and the profile), claim checks answered without a promise when the key is known (checkAccessToken), copied claims bounded (UTF-8 encoded only when near the bound)' },
  { name: 'mint: Ed25519 sign (node:crypto)', functions: ['signOneShot'], finding: 'the floor itself: one synchronous node:crypto sign' },
  { name: 'mint: claims, JSON, base64url', functions: ['issueTxnToken', 'mintTxnToken', 'firstContent'], finding: 'claims object, one JSON.stringify, base64url of payload and signature; the protected header encoded once per key' },
  { name: 'scope: decideScope + policy engine', functions: ['scopeStep', 'decideScope', 'allowedScopes'], finding: 'one engine check for all candidate scopes; the explained re-check runs only for denied scopes (to name the rule in the log)' },
  { name: 'client authentication (client_secret_basic)', functions: ['authenticateWorkload', 'authenticateClient'], finding: 'Basic header decoding, SHA-256 of the secret, constant-time compare' },
  { name: 'rate limits (MemoryStore)', frame: (f, url) => url.includes('/src/store/') || ['startLimits', 'clientVerdict', 'subjectVerdict'].includes(f), finding: 'one store call, started before the subject is verified; a short sub keyed as it is, metrics on or off (the observed store hid keysInProcess: a JS SHA-256 per exchange, ~4.5 µs)' },
  { name: 'request: form and parseExchangeRequest', frame: (f, url) => ['parseExchangeRequest', 'singleValued', 'parseFormBody', 'formComponent'].includes(f) || url === 'node:internal/url' || url.includes('/zod/'), finding: 'parseFormBody of a ~1 KB body (the HTTP path\'s form reader, no URLSearchParams), one zod parse' },
  { name: 'exchange glue: steps, awaits, context', functions: ['exchange', 'firstExchange', 'exchangeOnce'], finding: 'the step functions themselves and their promises; the decision entry built member by member and logged without a copy, span attributes only for a recording span; no { ...x, added } literal (a V8 slow path: µs each; principalFrom had one)' },
];
const HTTP_STAGES: StageSpec[] = [
  GC,
  RULE_NAMING,
  LOG,
  { name: 'body reading (readNodeBody)', frame: (f, url) => f === 'readNodeBody' || url.includes('/src/server/node-http'), finding: 'read straight from the IncomingMessage, no Fetch Request, no web stream' },
  { name: 'form parsing (parseFormBody)', frame: (f, url) => f === 'readForm' || f === 'readFormOf' || f === 'parseFormBody' || url === 'node:internal/url', finding: 'the pairs of the body, split and decoded (decodeURIComponent) without a URLSearchParams' },
  {
    name: 'the exchange (every step of the table above)',
    // an async step resumed after an await has only itself on the stack: every frame of the exchange's rooms counts
    frame: (f, url) => /\/src\/(exchange|jose|txn|policy|store|config)\//.test(url) || /\/(zod|@marcbachmann|jose)\//.test(url) || f === 'verifyOneShot' || f === 'signOneShot',
    finding: 'what (2) measures in process',
  },
  {
    name: 'socket write (writev system call)',
    functions: ['writev', 'writevGeneric', 'writeGeneric'],
    finding:
      "one writev per response, as for /hello (strace -c -f); V8's sampler ticks on a wall-clock timer, so this share holds the time the event loop waits after a writev that woke autocannon on a busy core: perf's on-CPU samples put writev at ~3.5% of the main thread",
  },
  { name: 'response: JSON, headers, one res.end', functions: ['writeJson', 'responseViaCache', 'responseViaResponseObject', 'json'], finding: 'the answer serialised once, headers as one object, written with one end (one writev)' },
  { name: 'TTS listener: /token on node:http', frame: (_f, url) => url.includes('/src/server/node-listener'), finding: 'no Fetch Request/Response, no hono Context or middleware: request id, headers read from the IncomingMessage' },
  { name: 'hono: routing, context, handler', frame: (_f, url) => url.includes('/hono/dist/') && !url.includes('@hono/node-server') || url.includes('/src/server/'), finding: 'router match, Context object, the handler' },
  { name: '@hono/node-server: Request object, listener', frame: (_f, url) => url.includes('@hono/node-server'), finding: 'a lightweight Request per request, the listener' },
  { name: 'node:http: parser, socket reads, events, timers', frame: (_f, url) => url.startsWith('node:'), finding: 'HTTP/1.1 parsing, keep-alive timers, stream events: the same for /hello' },
];
const inShares = stageShares(inProfile, IN_STAGES);
const httpShares = stageShares(httpProfile, HTTP_STAGES);

// ---------------------------------------------------------------- report
const m = machine();
console.log(machineLine(m));
console.log(`config: baton.config.yaml (EdDSA TTS key, dev IdP EdDSA subject tokens, client_secret_basic, policies/), rate limits raised; granted scope "${granted}" of "${requestedScope}"`);
const logStats = logWriter.stats();
console.log(`decision logging on, as baton serve runs it (createDecisionLogger, the Node writer; destination /dev/null): ${fmt(logStats.accepted)} lines in ${fmt(logStats.batches)} batches, ${fmt(logStats.dropped)} dropped`);
const floorOps = floor.opsPerSec;
const floorCpu = leastCpu(floorRounds);
const freshCpu = leastCpu(freshRounds);
const repeatedCpu = leastCpu(repeatedRounds);
const us = (n: number | undefined) => (n === undefined ? '' : `${fmt(n, 0)} µs`);
function inRow(name: string, x: Measurement, rounds: Measurement[]): Cell[] {
  return [name, fmt(x.opsPerSec), fmt(x.usPerOp, 1), fmt(leastCpu(rounds), 1), us(x.p50Us), us(x.p99Us), pct(x.opsPerSec / floorOps), pct(floorCpu / leastCpu(rounds))];
}
function httpRow(name: string, r: Load): Cell[] {
  return [name, `${fmt(r.requestsPerSec)} req/s`, fmt(1e6 / r.requestsPerSec, 1), fmt(r.serverCpuUs, 1), `${fmt(r.p50, 0)} ms`, `${fmt(r.p99, 0)} ms`, '', ''];
}
const rows: Cell[][] = [
  ['node:crypto verify, subject token (Ed25519)', fmt(floorVerify.opsPerSec), fmt(floorVerify.usPerOp, 1), fmt(leastCpu(floorVerifyRounds), 1), '', '', '', ''],
  ['node:crypto sign, Txn-Token payload (Ed25519)', fmt(floorSign.opsPerSec), fmt(floorSign.usPerOp, 1), fmt(leastCpu(floorSignRounds), 1), '', '', '', ''],
  ['1. crypto floor (verify + sign)', fmt(floorOps), fmt(floor.usPerOp, 1), fmt(floorCpu, 1), '', '', '100%', '100%'],
  inRow('2. exchange in-process, fresh subject token', inFresh, freshRounds),
  inRow('2. exchange in-process, repeated subject token', inRepeated, repeatedRounds),
  httpRow('3. HTTP GET /hello (hono, same server)', hello),
  httpRow('3. HTTP POST /token exchange (repeated subject)', http),
];
printTable('Exchange benchmark', ['measure', 'ops/s', 'µs/op (wall)', 'CPU µs/op', 'p50', 'p99', 'vs floor (ops/s)', 'vs floor (CPU)'], rows, ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right']);
console.log('CPU µs/op: CPU time of the whole process (all threads) per operation, least of the rounds; for HTTP, the server process per request (autocannon runs in a child).');
const load1 = loadavg()[0]!;
if (load1 > m.cores) console.log(`WARNING: load average ${load1.toFixed(1)} on ${m.cores} cores while measuring: wall-clock figures are inflated by other processes; compare the CPU columns.`);
console.log(`HTTP: autocannon -c 10 -d ${HTTP_SECONDS} per round (child process; latencies in whole ms) after a 1 s warm-up, one /hello and one /token run in each of the ${ROUNDS} rounds above; /token ${fmt(httpRounds.reduce((n, x) => n + x.total, 0))} requests, 0 non-2xx, 0 errors; /hello ${fmt(helloRounds.reduce((n, x) => n + x.total, 0))} requests`);
console.log(`HTTP rounds (req/s; server CPU µs per request): /hello ${helloRounds.map((x) => `${fmt(x.requestsPerSec)}; ${fmt(x.serverCpuUs, 0)}`).join(' / ')}; /token ${httpRounds.map((x) => `${fmt(x.requestsPerSec)}; ${fmt(x.serverCpuUs, 0)}`).join(' / ')}; /token vs repeated in process per round ${httpRounds.map((x, i) => pct(x.requestsPerSec / repeatedRounds[i]!.opsPerSec)).join(' / ')}`);
const splitLine = (r: Load) =>
  `user ${fmt(r.split.userUs, 0)} + kernel ${fmt(r.split.systemUs, 0)} µs; event-loop thread ${fmt(r.split.mainUs, 0)} µs, V8/libuv helper threads ${fmt(r.split.helpersUs, 0)} µs; ${fmt(r.split.minorFaults, 1)} minor page faults`;
console.log(`server CPU per request, split (the round with the least CPU): /hello ${splitLine(hello)}; /token ${splitLine(http)}`);
console.log(`in-process: one exchange at a time, a turn of the event loop every ${YIELD_EVERY}; best of ${ROUNDS} interleaved rounds of ${ROUND_MS} ms; fresh = distinct pre-minted subject tokens, each used once (${fmt(cursor)} used)`);
const roundsLine = (name: string, ms: Measurement[]) => `${name} ${ms.map((x) => fmt(x.opsPerSec)).join(' / ')}`;
console.log(`rounds (ops/s): ${roundsLine('floor', floorRounds)}; ${roundsLine('fresh', freshRounds)}; ${roundsLine('repeated', repeatedRounds)}; fresh/floor per round ${freshRounds.map((f, i) => pct(f.opsPerSec / floorRounds[i]!.opsPerSec)).join(' / ')}`);

/**
 * The sampler sees the event loop's thread only: its shares are of that thread's CPU (`sampledCpuUs`). What the other
 * threads spent (`threads`: the pool's verifications, GC, the compiler) is one more row, so the table adds up to the whole.
 */
function stageTable(title: string, x: { shares: StageShare[]; samples: number }, sampledCpuUs: number, threads?: { us: number; finding: string }): void {
  const rows = x.shares.map((s) => [s.name, pct(s.share * (sampledCpuUs / (sampledCpuUs + (threads?.us ?? 0)))), fmt(s.share * sampledCpuUs, 1), s.top, s.finding]);
  const whole = sampledCpuUs + (threads?.us ?? 0);
  if (threads !== undefined) rows.push(['other threads of the process (not sampled)', pct(threads.us / whole), fmt(threads.us, 1), '', threads.finding]);
  printTable(
    title,
    ['stage', 'share', 'CPU µs per exchange', 'most self time (share of the stage)', 'finding'],
    [...rows, ['total', '100%', fmt(whole, 1), `${fmt(x.samples)} samples`, '']],
    ['left', 'right', 'right', 'left', 'left'],
  );
}
// in process, one exchange at a time: the event loop's CPU in the round whose process CPU is the least (the round
// freshCpu comes from); the rest is V8's and libuv's helper threads (and the offload probe's verifications)
const freshMainCpu = freshRounds.reduce((a, b) => ((b.cpuUsPerOp ?? Infinity) < (a.cpuUsPerOp ?? Infinity) ? b : a)).threadCpuUsPerOp;
if (freshMainCpu !== undefined && Number.isFinite(freshMainCpu) && freshMainCpu <= freshCpu)
  stageTable(
    `Where a fresh in-process exchange spends its CPU (${fmt(profileBodies.length)} exchanges profiled; event-loop thread: µs = share × ${fmt(freshMainCpu, 1)}, other threads ${fmt(freshCpu - freshMainCpu, 1)})`,
    inShares,
    freshMainCpu,
    { us: freshCpu - freshMainCpu, finding: "V8's helper threads (concurrent GC marking and sweeping, the optimizing compiler) and libuv's thread pool (the decision log's writes, the offload probe's verifications)" },
  );
else stageTable(`Where a fresh in-process exchange spends its CPU (${fmt(profileBodies.length)} exchanges profiled; µs = share × ${fmt(freshCpu, 1)})`, inShares, freshCpu);
// over HTTP, with other exchanges in flight, the subject token's verification runs on libuv's thread pool (src/exchange/offload.ts)
const httpMainUs = Number.isFinite(http.split.mainUs) ? http.split.mainUs : http.serverCpuUs;
const httpThreadsUs = http.serverCpuUs - httpMainUs;
stageTable(
  `Where the server spends its CPU per HTTP exchange (POST /token under autocannon, 2 s profiled; event-loop thread: µs = share × ${fmt(httpMainUs, 1)}, other threads ${fmt(httpThreadsUs, 1)})`,
  httpShares,
  httpMainUs,
  { us: httpThreadsUs, finding: "libuv's thread pool (the Ed25519 verify of exchanges offloaded while others are in flight; the Txn-Token is signed inline) and V8's helper threads (GC, compiler)" },
);

const policyPerScope = policyPerScopeNs.sort((a, b) => a - b);
const policyP50 = percentileSorted(policyPerScope, 50) / 1000;
const policyMean = policyNs / 1000 / Math.max(1, policyScopes);
console.log(`scope policy inside the exchange: ${fmt(policyCalls)} calls (one per exchange), ${fmt(policyScopes / Math.max(1, policyCalls), 1)} candidate scopes per call; per scope p50 ${fmt(policyP50, 2)} µs, p99 ${fmt(percentileSorted(policyPerScope, 99) / 1000, 2)} µs, mean ${fmt(policyMean, 2)} µs`);
console.log(`decoded Txn-Token header: ${JSON.stringify(decodeProtectedHeader(sample.access_token))}, signing input ${txnInput.length} bytes`);

// the same scope policy alone, in a tight loop (warm caches): what the engine call costs when nothing runs in between
const alonePolicy = measureSync('scope policy alone', () => enginePolicy.allowedScopes(lastPolicyInput!, ['tickets:read', 'tickets:write', 'orders:read']), { durationMs: 300, warmupMs: 100 });
const alonePerScope = alonePolicy.usPerOp / 3;
const nonExchange = httpShares.shares.filter((s) => !s.name.startsWith('the exchange')).sort((a, b) => b.share - a.share).slice(0, 4);
const httpExchangeUs = exchangeShare0() * httpMainUs;
function exchangeShare0(): number {
  return httpShares.shares.find((s) => s.name.startsWith('the exchange'))!.share;
}
const freshRatio = inFresh.opsPerSec / floorOps;
const httpRatio = http.requestsPerSec / inRepeated.opsPerSec;
const httpExtraCpu = http.serverCpuUs - repeatedCpu;
const exchangeShare = exchangeShare0();
recordGoals([
  {
    id: 1,
    measured: `${pct(freshRatio)} (${fmt(inFresh.opsPerSec)} vs ${fmt(floorOps)} ops/s; by CPU ${pct(floorCpu / freshCpu)})`,
    pass: freshRatio >= 0.8,
    note:
      freshRatio >= 0.8
        ? undefined
        : `the floor is ${fmt(floorCpu, 0)} CPU µs, so 80% leaves ${fmt(floorCpu / 0.8 - floorCpu, 0)} µs for all that is not crypto; the rest of a fresh exchange is ${fmt(freshCpu - floorCpu, 0)} µs (stage table): form, zod, client auth, JWT parse and claim checks, scope policy (row 4 alone allows 3 µs × 3 scopes), claims and JSON of the Txn-Token, the limits' store call, the log line and the GC of what they allocate each cost a few µs in a tight loop`,
  },
  {
    id: 2,
    measured: `${pct(httpRatio)} (${fmt(http.requestsPerSec)} req/s vs ${fmt(inRepeated.opsPerSec)} ops/s in process, repeated token)`,
    pass: httpRatio >= 0.75,
    note:
      httpRatio >= 0.75
        ? undefined
        : `autocannon (a Node process too) shares the 2 cores with the server; the server spends ${fmt(http.serverCpuUs - repeatedCpu, 0)} CPU µs per request more than in process (row 3)`,
  },
  {
    id: 3,
    measured: `${fmt(httpExtraCpu, 0)} µs (${fmt(http.serverCpuUs, 0)} − ${fmt(repeatedCpu, 0)}) vs 1.5 × ${fmt(hello.serverCpuUs, 0)} µs = ${fmt(1.5 * hello.serverCpuUs, 0)} µs`,
    pass: httpExtraCpu <= 1.5 * hello.serverCpuUs,
    note:
      httpExtraCpu <= 1.5 * hello.serverCpuUs
        ? undefined
        : `per request, /token vs /hello: kernel ${fmt(http.split.systemUs, 0)} vs ${fmt(hello.split.systemUs, 0)} µs, other threads (the pool's verifications, GC, compiler) ${fmt(http.split.helpersUs, 0)} vs ${fmt(hello.split.helpersUs, 0)} µs, ${fmt(http.split.minorFaults, 1)} vs ${fmt(hello.split.minorFaults, 1)} minor page faults (fresh heap pages); one writev per response on both. Sampler (wall-clock ticks, so its writev share is mostly waiting): the exchange's own steps ${fmt(httpExchangeUs, 0)} µs (${fmt(repeatedCpu, 0)} in process, one at a time); outside it: ${nonExchange.map((x) => `${x.name.replace(/ \(.*$|:.*$/, '')} ${fmt(x.share * httpMainUs, 0)} µs`).join(', ')}`,
  },
  {
    id: 4,
    measured: `p50 ${fmt(policyP50, 2)} µs per scope (mean ${fmt(policyMean, 2)} µs; ${fmt(policyScopes / Math.max(1, policyCalls), 1)} scopes per call)`,
    pass: policyP50 <= 3,
    note: policyP50 <= 3 ? undefined : `the same call alone, in a tight loop: ${fmt(alonePerScope, 2)} µs per scope; inside the exchange the engine runs between the other steps (colder caches, GC), one check for all scopes (its denying rules named by the check itself); the example policy's variables (all of which a check evaluates together) and conditions are decided by the CEL fast path (src/policy/cel/fast.ts), without cel-js's interpreter`,
  },
]);

await node.store.close();
closeSync(devNull);
rmSync(keysDir, { recursive: true, force: true });
