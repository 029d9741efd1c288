/**
 * The operations overhead benchmark (issue 16). Run: `npm run bench -- ops` (BENCH_QUICK=1 for a short run).
 * The same exchange (the default configuration, the example policies, client_secret_basic, a repeated subject token)
 * through the TTS's hono app (`app.fetch`: request id, handlers, service; no sockets, so the ratio is not drowned in
 * network noise), measured in interleaved rounds:
 *   baseline: no metrics (`metrics: false`) and tracing disabled (`configureTracing({ enabled: false })`: no span started)
 *   ops:      Prometheus metrics (prom-client: HTTP, decisions, store, stages) and tracing through the OpenTelemetry
 *             API with no SDK registered (the no-op tracer: what runs when the application registers none)
 * Goal: ops costs at most 5% of the baseline's throughput (ratio of the best rounds, same run) → PASS/MISS.
 */
import { SignJWT, importJWK, type CryptoKey as JoseKey } from 'jose';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadDevIdpKey } from '../src/cli/keys.js';
import { loadConfigFile } from '../src/config/load.node.js';
import type { Config } from '../src/config/schema.js';
import { DEV_IDP_ISSUER } from '../src/dev-idp.js';
import { buildNode, type BatonNode } from '../src/node.js';
import { createMetrics } from '../src/ops/metrics.node.js';
import { configureTracing } from '../src/trace/index.js';
import { GRANT_TOKEN_EXCHANGE, TT_ACCESS_TOKEN, TT_TXN_TOKEN } from '../src/txn/index.js';
import { fmt, machineLine, passMiss, pct, printTable } from './lib/table.js';
import { measureAsync, settle, type Measurement } from './lib/timing.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const QUICK = process.env.BENCH_QUICK === '1';
const ROUND_MS = QUICK ? 700 : 2000;
const ROUNDS = QUICK ? 3 : 5;
const GOAL = 0.05;

const keysDir = mkdtempSync(join(tmpdir(), 'baton-bench-ops-'));
const loaded = loadConfigFile(join(root, 'baton.config.yaml'), { ...process.env, BATON_DEV_CLIENT_SECRET: 'dev-secret-change-me' });
const config: Config = { ...loaded.config, keys: keysDir, dev: { idp: true }, defaultRateLimit: { perClient: 1_000_000_000, perSubject: 1_000_000_000, windowSeconds: 3600 } };
const client = config.clients.find((c) => c.auth === 'client_secret_basic');
if (client?.secret === undefined) throw new Error('the default configuration has no client_secret_basic client');
const audience = config.trustDomain ?? config.trustDomains![0]!;
const opts = { loaded: { config, file: 'bench', resolvePath: (p: string) => resolve(root, p) }, say: () => {} };
const base: BatonNode = await buildNode({ ...opts, metrics: false });
const ops: BatonNode = await buildNode({ ...opts, metrics: createMetrics() });

const { privateJwk } = await loadDevIdpKey(keysDir);
const idpKey = (await importJWK(privateJwk, 'EdDSA')) as JoseKey;
const now = Math.floor(Date.now() / 1000);
const subject = await new SignJWT({ scope: 'tickets:read tickets:write orders:read', roles: ['user'], client_id: 'baton-dev' })
  .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: privateJwk.kid! })
  .setIssuer(DEV_IDP_ISSUER).setSubject('user-1').setAudience(client.subjectAudiences[0]!).setIssuedAt(now).setExpirationTime(now + 3600).setJti(crypto.randomUUID())
  .sign(idpKey);
const body = new URLSearchParams({ grant_type: GRANT_TOKEN_EXCHANGE, requested_token_type: TT_TXN_TOKEN, audience, scope: 'tickets:read tickets:write orders:read', subject_token: subject, subject_token_type: TT_ACCESS_TOKEN }).toString();
const authorization = `Basic ${Buffer.from(`${encodeURIComponent(client.id)}:${encodeURIComponent(client.secret)}`).toString('base64')}`;

async function post(node: BatonNode): Promise<void> {
  const r = await node.app.fetch(new Request('http://tts.bench/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization }, body }));
  if (r.status !== 200) throw new Error(`exchange: status ${r.status} ${await r.text()}`);
  await r.arrayBuffer();
}

const baseline: Measurement[] = [];
const withOps: Measurement[] = [];
for (let r = 0; r < ROUNDS; r++) {
  // alternate which goes first: neither always gets the warmer machine
  const order = r % 2 === 0 ? (['base', 'ops'] as const) : (['ops', 'base'] as const);
  for (const which of order) {
    settle();
    configureTracing({ enabled: which === 'ops' });
    const m = await measureAsync(which === 'base' ? 'exchange, no metrics, tracing off' : 'exchange, metrics + no-op tracing', () => post(which === 'base' ? base : ops), { warmupMs: 300, durationMs: ROUND_MS });
    (which === 'base' ? baseline : withOps).push(m);
  }
}
configureTracing({ enabled: true });
const metricsText = await (await ops.app.fetch(new Request('http://tts.bench/metrics'))).text();
if (!/baton_decisions_total\{[^}]*event="exchange"[^}]*effect="grant"/.test(metricsText)) throw new Error('the ops node counted no exchange: the comparison would be void');

const best = (ms: Measurement[]): Measurement => ms.reduce((a, b) => (b.opsPerSec > a.opsPerSec ? b : a));
const b = best(baseline);
const o = best(withOps);
const cost = 1 - o.opsPerSec / b.opsPerSec;
const cpuCost = o.cpuUsPerOp !== undefined && b.cpuUsPerOp !== undefined ? o.cpuUsPerOp / b.cpuUsPerOp - 1 : undefined;
console.log(machineLine());
console.log(`${new Date().toISOString()}; ${ROUNDS} interleaved rounds of ${ROUND_MS} ms each; best round of each reported`);
printTable(
  'Operations overhead (issue 16): metrics + no-op tracing vs neither, same run',
  ['measure', 'ops/s (best)', 'µs/op', 'CPU µs/op', 'rounds (ops/s)'],
  [
    [b.name, fmt(b.opsPerSec), fmt(b.usPerOp, 1), fmt(b.cpuUsPerOp, 1), baseline.map((m) => fmt(m.opsPerSec)).join(' ')],
    [o.name, fmt(o.opsPerSec), fmt(o.usPerOp, 1), fmt(o.cpuUsPerOp, 1), withOps.map((m) => fmt(m.opsPerSec)).join(' ')],
  ],
  ['left', 'right', 'right', 'right', 'left'],
);
console.log(`throughput cost of metrics + no-op tracing: ${pct(cost)} (CPU per exchange: ${cpuCost === undefined ? 'n/a' : pct(cpuCost)}); goal <= ${pct(GOAL)}: ${passMiss(cost <= GOAL)}`);
await base.store.close();
await ops.store.close();
rmSync(keysDir, { recursive: true, force: true });
