/**
 * Diagnostic harness (issue 13 row 1; not part of `npm run bench`): what a token exchange's decision line costs the
 * log, against the log bench's entry. Builds the node as bench/exchange.bench.ts does, captures the render thunks of
 * real exchanges (grants and a denial), then measures in interleaved rounds, CPU µs per entry:
 *   render   the thunk alone (stamp copy + DecisionLogger.line)
 *   write    the Node writer fed those thunks (writeLater → render → Buffer → fs.write to /dev/null, drained)
 * and prints every distinct line once (LINES=path writes all rendered lines, for a byte diff before/after).
 *   npx tsx bench/_log-ab.ts
 */
import { mkdtempSync, openSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT, importJWK, type CryptoKey as JoseKey } from 'jose';
import { loadDevIdpKey } from '../src/cli/keys.js';
import { DEV_IDP_ISSUER } from '../src/dev-idp.js';
import { loadConfigFile } from '../src/config/load.node.js';
import type { Config } from '../src/config/schema.js';
import { engineScopePolicy } from '../src/exchange/policy-scope.js';
import { GRANT_TOKEN_EXCHANGE, TT_ACCESS_TOKEN, TT_TXN_TOKEN } from '../src/txn/index.js';
import { buildNode } from '../src/node.js';
import { createEngine } from '../src/policy/index.js';
import { readPolicies } from '../src/policy/fs.node.js';
import { createDecisionLogger, decisionLog, stdoutDecisions, useStdoutWriter, type LineWriter } from '../src/log/index.js';
import { createAsyncLineWriter } from '../src/log/sink.node.js';
import { parseFormBody } from '../src/exchange/request.js';
import { cpuSince, settle } from './lib/timing.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const N = Number(process.env.N ?? 20000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const keysDir = mkdtempSync(join(tmpdir(), 'baton-logab-'));
const loaded = loadConfigFile(join(root, 'baton.config.yaml'), { ...process.env, BATON_DEV_CLIENT_SECRET: 'dev-secret-change-me' });
const config: Config = { ...loaded.config, keys: keysDir, dev: { idp: true }, defaultRateLimit: { perClient: 1e9, perSubject: 1e9, windowSeconds: 3600 } };
const client = config.clients.find((c) => c.auth === 'client_secret_basic')!;
const audience = config.trustDomain ?? config.trustDomains![0]!;
const subjectAud = client.subjectAudiences[0]!;
const policy = engineScopePolicy(createEngine({ policies: readPolicies(join(root, 'policies')) }));

// capture: a writer that keeps the thunks it is handed (each call renders the line again, from the same draft)
const thunks: Array<() => string> = [];
const capture: LineWriter = { write: () => {}, writeLater: (r) => void thunks.push(r), flush() {}, drain: () => Promise.resolve() };
useStdoutWriter(capture);
const node = await buildNode({ loaded: { config, file: 'bench', resolvePath: (p) => resolve(root, p) }, policy, onDecision: createDecisionLogger().sink, say: () => {} });
const { privateJwk: idpJwk } = await loadDevIdpKey(keysDir);
const idpKey = (await importJWK(idpJwk, 'EdDSA')) as JoseKey;
const authorization = `Basic ${Buffer.from(`${encodeURIComponent(client.id)}:${encodeURIComponent(client.secret!)}`).toString('base64')}`;
async function body(i: number, scope: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ scope: 'tickets:read tickets:write orders:read', roles: ['user'], client_id: 'baton-dev', amr: ['pwd'], email: `user${i}@example.com` })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: idpJwk.kid! }).setIssuer(DEV_IDP_ISSUER).setSubject(`user-${i}`).setAudience(subjectAud)
    .setIssuedAt(now).setExpirationTime(now + 3600).setJti(crypto.randomUUID()).sign(idpKey);
  const b = new URLSearchParams({ grant_type: GRANT_TOKEN_EXCHANGE, requested_token_type: TT_TXN_TOKEN, audience, scope, subject_token: token, subject_token_type: TT_ACCESS_TOKEN, request_details: JSON.stringify({ tool: 'get_ticket', ticket_id: 'T-1001' }) }).toString();
  return Buffer.from(b, 'utf8').toString('utf8');
}
const KINDS = Number(process.env.KINDS ?? 64);
for (let i = 0; i < KINDS; i++) {
  const scope = i % 8 === 7 ? 'tickets:write' : 'tickets:read tickets:write orders:read'; // 1 in 8 refused (nothing granted)
  try {
    await node.service.exchange({ form: parseFormBody(await body(i, scope)), authorization, remoteAddr: '127.0.0.1' });
  } catch {
    /* a refusal, logged */
  }
}
if (thunks.length !== KINDS) throw new Error(`captured ${thunks.length} entries, expected ${KINDS}`);
const exchangeRenders = Array.from({ length: N }, (_, i) => thunks[i % thunks.length]!);

// the log bench's entry, through the same logger
const benchThunks: Array<() => string> = [];
const benchCapture: LineWriter = { write: () => {}, writeLater: (r) => void benchThunks.push(r), flush() {}, drain: () => Promise.resolve() };
useStdoutWriter(benchCapture);
const benchLog = decisionLog({ hop: 'orders-svc', sink: createDecisionLogger().sink });
void stdoutDecisions;
for (let i = 0; i < N; i++)
  benchLog.emit({
    event: 'authorize', effect: i % 10 === 0 ? 'deny' : 'allow', txn: `0a6c0b1e-9d7f-4c1e-8f21-${String(i).padStart(12, '0')}`, sub: `user-${i % 1000}`,
    workload: 'orders-svc', chain: ['orders-svc', 'mcp-support-agent'], action: 'read', resource: { kind: 'ticket', id: `T-${i}` },
    policy: 'resource.ticket.vdefault', rule: 'owner-reads', reason: 'allowed by resource.ticket.vdefault#owner-reads',
  });

if (process.env.LINES !== undefined) writeFileSync(process.env.LINES, `${thunks.map((t) => t()).join('\n')}\n${benchThunks.slice(0, 64).map((t) => t()).join('\n')}\n`);
for (const l of new Set(thunks.map((t) => t().replace(/"time":"[^"]*"/, '').replace(/"(txn|sub|request_id|trace_id)":"[^"]*"/g, '"$1":…')))) console.log(l);

function renderOnly(list: Array<() => string>): number {
  settle();
  const c0 = process.cpuUsage();
  let n = 0;
  for (const t of list) n += t().length;
  if (n === 0) throw new Error('nothing rendered');
  return cpuSince(c0) / list.length;
}
const devNull = openSync('/dev/null', 'w');
const writer = createAsyncLineWriter({ fd: devNull });
const BATCH = Number(process.env.BATCH ?? 0);
async function written(list: Array<() => string>): Promise<number> {
  settle();
  const c0 = process.cpuUsage();
  for (let i = 0; i < list.length; ) {
    for (let j = 0; j < 10 && i < list.length; j++, i++) writer.writeLater(list[i]!);
    if (BATCH > 0 && i % BATCH === 0) await writer.drain(); // batches of BATCH entries (as under a slower request rate)
    else await new Promise((r) => setImmediate(r));
  }
  await writer.drain();
  return cpuSince(c0) / list.length;
}
const res: Record<string, number[]> = { 'exchange render': [], 'bench render': [], 'exchange written': [], 'bench written': [] };
for (let r = 0; r < ROUNDS; r++) {
  res['exchange render']!.push(renderOnly(exchangeRenders));
  res['bench render']!.push(renderOnly(benchThunks));
  res['exchange written']!.push(await written(exchangeRenders));
  res['bench written']!.push(await written(benchThunks));
}
for (const [k, v] of Object.entries(res)) console.log(`${k.padEnd(18)} min ${Math.min(...v).toFixed(2)} µs  rounds ${v.map((x) => x.toFixed(2)).join(' ')}`);
console.log(writer.stats());

// PROFILE=n: n fresh exchanges as the exchange bench profiles them (real writer to /dev/null, a turn every 10), the
// log stage's self time by function
if (process.env.PROFILE !== undefined) {
  const { profile } = await import('./lib/profile.js');
  const n = Number(process.env.PROFILE);
  const bodies: string[] = [];
  for (let i = 0; i < n; i++) bodies.push(await body(1000 + i, 'tickets:read tickets:write orders:read'));
  const live = createAsyncLineWriter({ fd: devNull });
  useStdoutWriter(live);
  const run = async (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      await node.service.exchange({ form: parseFormBody(bodies[i]!), authorization, remoteAddr: '127.0.0.1' });
      if ((i + 1) % 10 === 0) await new Promise((r) => setImmediate(r));
    }
    await live.drain();
  };
  await run(0, n / 4);
  settle();
  const c0 = process.cpuUsage();
  const p = await profile(() => run(n / 4, n));
  const cpuPer = cpuSince(c0) / (n - n / 4);
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const parent = new Map<number, number>();
  for (const x of p.nodes) for (const c of x.children ?? []) parent.set(c, x.id);
  const inLog = (id: number) => {
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) if (byId.get(cur)!.callFrame.url.includes('/src/log/')) return true;
    return false;
  };
  let total = 0;
  let logN = 0;
  const self = new Map<string, number>();
  const stacks = new Map<string, number>();
  for (const id of p.samples) {
    const f = byId.get(id)!.callFrame;
    if (f.functionName === '(idle)' || f.functionName === '(program)') continue;
    total++;
    if (!inLog(id)) continue;
    logN++;
    const k = `${f.functionName || '(anon)'} ${f.url.replace(/.*\/src\//, '').replace(/^node:internal\//, '')}`;
    self.set(k, (self.get(k) ?? 0) + 1);
    const chain: string[] = [];
    for (let cur: number | undefined = id; cur !== undefined && chain.length < 6; cur = parent.get(cur)) chain.push(byId.get(cur)!.callFrame.functionName || '(anon)');
    const sk = chain.join(' < ');
    stacks.set(sk, (stacks.get(sk) ?? 0) + 1);
  }
  console.log(`profile: CPU ${cpuPer.toFixed(1)} µs/exchange; log stage ${((100 * logN) / total).toFixed(1)}% = ${((cpuPer * logN) / total).toFixed(2)} µs/exchange (${logN} samples of ${total})`);
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${((100 * v) / logN).toFixed(1)}%  ${k}`);
  for (const [k, v] of [...stacks].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`  ${((100 * v) / logN).toFixed(1)}%  ${k}`);
  console.log(live.stats());
}

// AB=rounds: the exchange (repeated subject token, a turn every 10) with the decision log off (a node without
// onDecision), on with its entries discarded at the writer (emit only), rendered but not written, and written to
// /dev/null by the Node writer: CPU µs per exchange, interleaved rounds
if (process.env.AB !== undefined) {
  const rounds = Number(process.env.AB);
  const PER = Number(process.env.PER ?? 2000);
  const off = await buildNode({ loaded: { config, file: 'bench', resolvePath: (p) => resolve(root, p) }, policy, say: () => {} });
  const b = await body(1, 'tickets:read tickets:write orders:read');
  const discard: LineWriter = { write: () => {}, writeLater: () => {}, flush() {}, drain: () => Promise.resolve() };
  let q: Array<() => string> = [];
  let sink = 0;
  const renderOnlyW: LineWriter = {
    write: () => {},
    writeLater: (r) => {
      if (q.push(r) === 1) setImmediate(() => { const l = q; q = []; let t = ''; for (const f of l) t += `${f()}\n`; sink += t.length; });
    },
    flush() {}, drain: () => Promise.resolve(),
  };
  const full = createAsyncLineWriter({ fd: devNull });
  const variants: Array<{ name: string; svc: typeof node.service; w: LineWriter }> = [
    { name: 'log off', svc: off.service, w: discard },
    { name: 'emit only', svc: node.service, w: discard },
    { name: 'rendered', svc: node.service, w: renderOnlyW },
    { name: 'written', svc: node.service, w: full },
  ];
  const cpus = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  for (let r = -1; r < rounds; r++)
    for (const v of variants) {
      useStdoutWriter(v.w);
      settle();
      const c0 = process.cpuUsage();
      for (let i = 0; i < PER; i++) {
        await v.svc.exchange({ form: parseFormBody(b), authorization, remoteAddr: '127.0.0.1' });
        if ((i + 1) % 10 === 0) await new Promise((res) => setImmediate(res));
      }
      await v.w.drain();
      await new Promise((res) => setImmediate(res));
      if (r >= 0) cpus.get(v.name)!.push(cpuSince(c0) / PER);
    }
  const med = (xs: number[]) => [...xs].sort((a, c) => a - c)[Math.floor(xs.length / 2)]!;
  const base = cpus.get('log off')!;
  for (const [k, xs] of cpus) {
    const diffs = xs.map((x, i) => x - base[i]!);
    console.log(`${k.padEnd(10)} min ${Math.min(...xs).toFixed(1)} med ${med(xs).toFixed(1)} µs/exchange; vs off, paired: med ${med(diffs).toFixed(2)} min ${Math.min(...diffs).toFixed(2)}`);
  }
  console.log(full.stats(), sink > 0);
}

// PARTS=rounds: the parts of an exchange line's render, CPU µs per entry (captured stamped-entry thunks)
if (process.env.PARTS !== undefined) {
  const { renderLater } = await import('../src/log/emit.js');
  const { renderMembers, oneLine } = await import('../src/log/scrub.js');
  const entryThunks: Array<() => object> = [];
  const cap = renderLater(() => {}, (e: () => object) => void entryThunks.push(e));
  const n2 = await buildNode({ loaded: { config, file: 'bench', resolvePath: (p) => resolve(root, p) }, policy, onDecision: cap, say: () => {} });
  for (let i = 0; i < 64; i++) {
    try { await n2.service.exchange({ form: parseFormBody(await body(i, i % 8 === 7 ? 'tickets:write' : 'tickets:read tickets:write orders:read')), authorization, remoteAddr: '127.0.0.1' }); } catch { /* logged */ }
  }
  const logger = createDecisionLogger();
  const list = Array.from({ length: N }, (_, i) => entryThunks[i % entryThunks.length]!);
  const copies = list.map((t) => t());
  let sinkLen = 0;
  const parts: Record<string, () => void> = {
    'copy (thunk)': () => { for (const t of list) sinkLen += Object.keys(t()).length; },
    'renderMembers': () => { for (const e of copies) sinkLen += renderMembers(e, {})!.length; },
    'line (no copy)': () => { for (const e of copies) sinkLen += logger.line(e).length; },
    'line (copy)': () => { for (const t of list) sinkLen += logger.line(t()).length; },
    'oneLine': () => { const l = logger.line(copies[0]!); for (let i = 0; i < list.length; i++) sinkLen += oneLine(l).length; },
  };
  const out = new Map<string, number[]>(Object.keys(parts).map((k) => [k, []]));
  for (let r = 0; r < Number(process.env.PARTS); r++)
    for (const [k, f] of Object.entries(parts)) { settle(); const c0 = process.cpuUsage(); f(); out.get(k)!.push(cpuSince(c0) / list.length); }
  for (const [k, xs] of out) console.log(`${k.padEnd(16)} min ${Math.min(...xs).toFixed(2)} µs/entry`);
  void sinkLen;
}

// VS=rounds: this branch's rendering of real exchange entries against main's (/work/main/src/log, or OLD=dir), same
// process, interleaved rounds; the lines compared byte for byte. CPU µs per entry: render alone, and render + written
// by the Node writer to /dev/null (10 entries per turn)
if (process.env.VS !== undefined) {
  const oldDir = process.env.OLD ?? '/work/main/src/log';
  const oldLog = (await import(`${oldDir}/logger.ts`)) as typeof import('../src/log/logger.js');
  const { renderLater } = await import('../src/log/emit.js');
  interface Cap { entry: () => object; time: Date; hop: string; draft: object }
  const caps: Cap[] = [];
  const cap = renderLater(() => {}, (entry, time, hop, draft) => void caps.push({ entry, time, hop, draft }));
  const n3 = await buildNode({ loaded: { config, file: 'bench', resolvePath: (p) => resolve(root, p) }, policy, onDecision: cap, say: () => {} });
  for (let i = 0; i < Number(process.env.CAP ?? 64); i++) {
    const meta = i % 2 === 0 ? { requestId: crypto.randomUUID() } : {};
    try { await n3.service.exchange({ form: parseFormBody(await body(i, i % 8 === 7 ? 'tickets:write' : 'tickets:read tickets:write orders:read')), authorization, remoteAddr: '127.0.0.1' }, meta); } catch { /* logged */ }
  }
  const oldLogger = oldLog.createDecisionLogger();
  const newLogger = createDecisionLogger();
  let diffs = 0;
  for (const c of caps) {
    const a = oldLogger.line(c.entry());
    const b = newLogger.stampedLine(c.entry, c.time, c.hop, c.draft);
    if (a !== b) { diffs++; console.log(`DIFF\n${a}\n${b}`); }
  }
  console.log(`${caps.length} captured entries, ${diffs} lines differ; e.g.\n${newLogger.stampedLine(caps[0]!.entry, caps[0]!.time, caps[0]!.hop, caps[0]!.draft)}\n${newLogger.stampedLine(caps[7]!.entry, caps[7]!.time, caps[7]!.hop, caps[7]!.draft)}`);
  const list = Array.from({ length: N }, (_, i) => caps[i % caps.length]!);
  const oldStamped = (oldLogger as unknown as { stampedLine?: typeof newLogger.stampedLine }).stampedLine?.bind(oldLogger);
  const oldR = list.map((c) => (oldStamped !== undefined ? () => oldStamped(c.entry, c.time, c.hop, c.draft) : () => oldLogger.line(c.entry())));
  const newR = list.map((c) => () => newLogger.stampedLine(c.entry, c.time, c.hop, c.draft));
  const out = new Map<string, number[]>([['main render', []], ['this render', []], ['main written', []], ['this written', []]]);
  for (let r = 0; r < Number(process.env.VS); r++) {
    out.get('main render')!.push(renderOnly(oldR));
    out.get('this render')!.push(renderOnly(newR));
    out.get('main written')!.push(await written(oldR));
    out.get('this written')!.push(await written(newR));
  }
  if (process.env.PROF_RENDER !== undefined) {
    const { profile } = await import('./lib/profile.js');
    const p = await profile(async () => { for (let i = 0; i < 20; i++) if (process.env.PROF_RENDER === 'write') await written(newR); else renderOnly(newR); });
    const byId = new Map(p.nodes.map((x) => [x.id, x]));
    const self = new Map<string, number>();
    for (const id of p.samples) { const f = byId.get(id)!.callFrame; const k = `${f.functionName || '(anon)'} ${f.url.replace(/.*\/src\//, '')}`; self.set(k, (self.get(k) ?? 0) + 1); }
    for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 14)) console.log(`  ${((100 * v) / p.samples.length).toFixed(1)}%  ${k}`);
  }
  const med = (xs: number[]) => [...xs].sort((a, c) => a - c)[Math.floor(xs.length / 2)]!;
  for (const [k, xs] of out) console.log(`${k.padEnd(14)} min ${Math.min(...xs).toFixed(2)} med ${med(xs).toFixed(2)} µs/entry`);
}
