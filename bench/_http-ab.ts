/**
 * Diagnostic A/B harness for issue 13 rows 2-3 (not part of `npm run bench`): one server as the exchange bench builds
 * it (default config, decision log to /dev/null), POST /token under autocannon -c 10 in a child, variants of where the
 * signatures run switched at run time (CryptoOffload.prototype.verifier and the default JWS backend replaced), in
 * interleaved rounds. Per request: server CPU by thread (/proc/self/task/<tid>/schedstat), user/kernel, context
 * switches, minor faults, and autocannon's own CPU (its shell's cutime + cstime).
 *   npx tsx bench/_http-ab.ts new,old,hello,echo,inproc   (env ROUNDS, SECONDS; UV_THREADPOOL_SIZE for the pool)
 * Variants: new (this code: verification offloaded under load, signature inline), old (the signature placed by the same
 * decision as the verification, as before), inline, pooled (everything on the pool), verifyonly/pverify, cap1-3;
 * hello (GET /hello), echo (POST of the same body, answered with a JSON of the same size: node:http's cost of this
 * request shape), inproc (TokenService.exchange one at a time), inproc10 (ten at a time), inproc+spread/+bunched
 * (4 fstat system calls inside / before each exchange). PERF=1 (perf record, PERFE=event, PERFG=1 call graphs),
 * STRACE=1 (strace -c of every thread) for the measured runs. Scratch quality: a tool, not a benchmark of record.
 */
import { createServer, type Server } from 'node:http';
import { Hono } from 'hono';
import { SignJWT, importJWK, type CryptoKey as JoseKey } from 'jose';
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { loadDevIdpKey } from '../src/cli/keys.js';
import { DEV_IDP_ISSUER } from '../src/dev-idp.js';
import { loadConfigFile } from '../src/config/load.node.js';
import type { Config } from '../src/config/schema.js';
import { engineScopePolicy } from '../src/exchange/policy-scope.js';
import { GRANT_TOKEN_EXCHANGE, TT_ACCESS_TOKEN, TT_TXN_TOKEN } from '../src/txn/index.js';
import { buildNode, ttsRequestListener } from '../src/node.js';
import { createEngine } from '../src/policy/index.js';
import { readPolicies } from '../src/policy/fs.node.js';
import { createDecisionLogger, useStdoutWriter } from '../src/log/index.js';
import { createAsyncLineWriter } from '../src/log/sink.node.js';
import { parseFormBody } from '../src/exchange/request.js';
import { readIncoming } from '../src/server/node-http.node.js';
import { autocannonBin } from './lib/autocannon.js';
import { CryptoOffload } from '../src/exchange/offload.js';
import { defaultJwsCrypto, pooledJwsCrypto, setDefaultJwsCrypto, type JwsCrypto } from '../src/jose/jws.js';
import { nodeJwsCrypto, nodeJwsCryptoPooled } from '../src/jose/crypto.node.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SECONDS = Number(process.env.SECONDS ?? 3);
const keysDir = mkdtempSync(join(tmpdir(), 'baton-ab-'));
const loaded = loadConfigFile(join(root, 'baton.config.yaml'), { ...process.env, BATON_DEV_CLIENT_SECRET: 'dev-secret-change-me' });
const config: Config = { ...loaded.config, keys: keysDir, dev: { idp: true }, defaultRateLimit: { perClient: 1e9, perSubject: 1e9, windowSeconds: 3600 } };
const client = config.clients.find((c) => c.auth === 'client_secret_basic')!;
const audience = config.trustDomain ?? config.trustDomains![0]!;
const engine = createEngine({ policies: readPolicies(join(root, 'policies')) });
const devNull = openSync('/dev/null', 'w');
let spreadSys = false;
const enginePolicy = engineScopePolicy(engine);
const spreadPolicy: typeof enginePolicy = { allowedScopes(i, c) { if (spreadSys) fstatSync0(0); return enginePolicy.allowedScopes(i, c); } };
import { fstatSync as fstatSync0 } from 'node:fs';
const noLog = process.env.NOLOG === '1';
const node = await buildNode({ loaded: { config, file: 'bench', resolvePath: (p) => resolve(root, p) }, policy: spreadPolicy, ...(noLog ? {} : { onDecision: createDecisionLogger().sink }), say: () => {} });
useStdoutWriter(createAsyncLineWriter({ fd: devNull }));
const { privateJwk: idpJwk } = await loadDevIdpKey(keysDir);
const idpKey = (await importJWK(idpJwk, 'EdDSA')) as JoseKey;
const now = Math.floor(Date.now() / 1000);
const token = await new SignJWT({ scope: 'tickets:read tickets:write orders:read', roles: ['user'], client_id: 'baton-dev', amr: ['pwd'], email: 'user0@example.com' })
  .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: idpJwk.kid! })
  .setIssuer(DEV_IDP_ISSUER).setSubject('user-0').setAudience(client.subjectAudiences[0]!).setIssuedAt(now).setExpirationTime(now + 3600).setJti(crypto.randomUUID())
  .sign(idpKey);
const body = new URLSearchParams({
  grant_type: GRANT_TOKEN_EXCHANGE, requested_token_type: TT_TXN_TOKEN, audience, scope: 'tickets:read tickets:write orders:read',
  subject_token: token, subject_token_type: TT_ACCESS_TOKEN, request_details: JSON.stringify({ tool: 'get_ticket', ticket_id: 'T-1001' }),
}).toString();
const authorization = `Basic ${Buffer.from(`${encodeURIComponent(client.id)}:${encodeURIComponent(client.secret!)}`).toString('base64')}`;

// ---- variants: CryptoOffload.prototype.verifier replaced at run time
const original = CryptoOffload.prototype.verifier;
const hybrid = (): JwsCrypto => ({ ...pooledJwsCrypto(), sign: defaultJwsCrypto().sign.bind(defaultJwsCrypto()) });
let hybridC: JwsCrypto | undefined;
const variants: Record<string, () => void> = {
  cur: () => void (CryptoOffload.prototype.verifier = original),
  inline: () => void (CryptoOffload.prototype.verifier = () => defaultJwsCrypto()),
  pooled: () => void (CryptoOffload.prototype.verifier = () => pooledJwsCrypto()),
  pverify: () => void (CryptoOffload.prototype.verifier = () => (hybridC ??= hybrid())),
  verifyonly: () =>
    void (CryptoOffload.prototype.verifier = function (this: CryptoOffload) {
      const b = original.call(this);
      if (b === defaultJwsCrypto()) return b;
      return (hybridC ??= hybrid());
    }),
};
// at most `cap` signatures on the pool at once; beyond that, inline
let outstanding = 0;
function capped(cap: number): JwsCrypto {
  const p = pooledJwsCrypto();
  const d = defaultJwsCrypto();
  return {
    ...p,
    verify(alg, key, data, sig) {
      if (outstanding >= cap) return d.verify(alg, key, data, sig);
      outstanding++;
      return Promise.resolve(p.verify(alg, key, data, sig)).finally(() => outstanding--);
    },
    sign(alg, key, data) {
      if (outstanding >= cap) return d.sign(alg, key, data);
      outstanding++;
      return Promise.resolve(p.sign(alg, key, data)).finally(() => outstanding--);
    },
  };
}
const caps = new Map<number, JwsCrypto>();
for (const c of [1, 2, 3]) {
  variants[`cap${c}`] = () =>
    void (CryptoOffload.prototype.verifier = function (this: CryptoOffload) {
      const b = original.call(this);
      if (b === defaultJwsCrypto()) return b;
      if (!caps.has(c)) caps.set(c, capped(c));
      return caps.get(c)!;
    });
}
// the code before this branch: the Txn-Token's signature placed by the same decision as the verification
let lastOffload: CryptoOffload | undefined;
const oldDefault: JwsCrypto = { ...nodeJwsCrypto, sign: (a, k, d) => (lastOffload!.verifier() === nodeJwsCryptoPooled ? nodeJwsCryptoPooled.sign(a, k, d) : nodeJwsCrypto.sign(a, k, d)) };
variants.new = () => { setDefaultJwsCrypto(nodeJwsCrypto, nodeJwsCryptoPooled); CryptoOffload.prototype.verifier = original; };
variants.old = () => {
  setDefaultJwsCrypto(oldDefault, nodeJwsCryptoPooled);
  CryptoOffload.prototype.verifier = function (this: CryptoOffload) { lastOffload = this; return original.call(this); };
};
const wanted = (process.argv[2] ?? 'cur,inline').split(',');
for (const w of wanted) if (variants[w] === undefined && w !== 'hello' && w !== 'echo' && !w.startsWith('inproc')) throw new Error(`unknown variant ${w}`);

const app = new Hono();
app.get('/hello', (c) => c.text('Hello, world!'));
app.route('/', node.app);
const listener = ttsRequestListener({ service: node.service, app, observer: node.observer, hostname: '127.0.0.1' });
const server = await new Promise<Server>((ok) => {
  const s = createServer((req, res) => {
    if (req.url === '/echo') {
      void readIncoming(req).then((b) => {
        const text = JSON.stringify({ access_token: echoToken, issued_token_type: TT_TXN_TOKEN, token_type: 'N_A', expires_in: 300, scope: 'tickets:read orders:read', n: b.length });
        res.writeHead(200, { 'cache-control': 'no-store', 'content-type': 'application/json', pragma: 'no-cache', 'x-request-id': crypto.randomUUID(), 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
      });
      return;
    }
    listener(req, res);
  });
  s.listen(0, '127.0.0.1', () => ok(s));
});
const echoToken = (await node.service.exchange({ form: parseFormBody(body), authorization, remoteAddr: '127.0.0.1' })).access_token;
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

interface ThreadStat { cpuNs: number; vcs: number; ics: number }
function threads(): Map<string, ThreadStat> {
  const m = new Map<string, ThreadStat>();
  for (const t of readdirSync('/proc/self/task')) {
    try {
      const cpuNs = Number(readFileSync(`/proc/self/task/${t}/schedstat`, 'utf8').split(' ')[0]);
      const st = readFileSync(`/proc/self/task/${t}/status`, 'utf8');
      const vcs = Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(st)![1]);
      const ics = Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(st)![1]);
      m.set(t, { cpuNs, vcs, ics });
    } catch {}
  }
  return m;
}

interface Run { rps: number; total: number; cpuUs: number; user: number; sys: number; mainUs: number; poolUs: number; otherUs: number; vcsMain: number; vcsAll: number; ics: number; faults: number; acUs: number; non2xx: number }
/** autocannon in a child of a shell that reports the child's CPU (cutime + cstime) after it exits */
function autocannon(url: string, post: boolean, seconds: number): Promise<{ json: { requests: { total: number }; duration: number; non2xx: number; errors: number }; cpuUs: number }> {
  const args = [autocannonBin(), '--json', '--no-progress', '-c', '10', '-d', String(seconds)];
  if (post) args.push('-m', 'POST', '-H', 'content-type=application/x-www-form-urlencoded', '-H', `authorization=${authorization}`, '-b', body);
  args.push(url);
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const script = `${q(process.execPath)} ${args.map(q).join(' ')}; read x < /proc/$$/stat; echo "CHILDSTAT $x" >&2`;
  return new Promise((ok, fail) => {
    const ch = spawn('/bin/sh', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    ch.stdout.on('data', (d) => (out += d));
    ch.stderr.on('data', (d) => (err += d));
    ch.on('close', () => {
      try {
        const line = /CHILDSTAT (.*)/.exec(err)![1]!;
        const f = line.slice(line.lastIndexOf(')') + 2).split(' ');
        const cpuUs = ((Number(f[13]) + Number(f[14])) * 1e6) / 100; // cutime + cstime
        ok({ json: JSON.parse(out.trim().split('\n').pop()!), cpuUs });
      } catch (e) {
        fail(new Error(`${String(e)} ${err.slice(0, 300)}`));
      }
    });
  });
}

const mainTid = String(process.pid);
let currentVariant = 'warm';
let poolTids: Set<string> | undefined; // threads that appear once the pool is used
const startThreads = new Set(threads().keys());
async function run(path: string, seconds: number): Promise<Run> {
  const post = path === '/token' || path === '/echo';
  const perf = process.env.PERF === '1' && seconds > 1 ? spawn('perf', ['record', '-q', ...(process.env.PERFE !== undefined ? ['-e', process.env.PERFE] : ['-e', 'cpu-clock', '-F', process.env.PERFF ?? '4000']), ...(process.env.PERFG === '1' ? ['-g'] : []), '-p', String(process.pid), '-o', `/tmp/perf-${currentVariant}.data`], { stdio: 'ignore' }) : undefined;
  if (perf !== undefined) await new Promise((r) => setTimeout(r, 300));
  const st = process.env.STRACE === '1' && seconds > 1 ? spawn('strace', [...(process.env.STRACEK === '1' ? ['-k', '-e', 'trace=futex,write'] : ['-c']), ...readdirSync('/proc/self/task').flatMap((t) => ['-p', t]), '-o', `/tmp/strace-${currentVariant}.txt`], { stdio: 'ignore' }) : undefined;
  if (st !== undefined) await new Promise((r) => setTimeout(r, 500));
  const t0 = threads();
  const u0 = process.resourceUsage();
  const r = await autocannon(`${base}${path}`, post, seconds);
  const u1 = process.resourceUsage();
  const t1 = threads();
  if (st !== undefined) { st.kill('SIGINT'); await new Promise((r) => st.on('close', r)); process.stderr.write(`${currentVariant}: ${r.json.requests.total} requests under strace\n`); }
  if (perf !== undefined) process.stderr.write(`${currentVariant}: ${r.json.requests.total} requests under perf\n`);
  if (perf !== undefined) { perf.kill('SIGINT'); await new Promise((r) => perf.on('close', r)); }
  const n = Math.max(1, r.json.requests.total);
  let main = 0, pool = 0, other = 0, vcsMain = 0, vcsAll = 0, ics = 0;
  for (const [tid, b] of t1) {
    const a = t0.get(tid) ?? { cpuNs: 0, vcs: 0, ics: 0 };
    const d = (b.cpuNs - a.cpuNs) / 1000;
    vcsAll += b.vcs - a.vcs;
    ics += b.ics - a.ics;
    if (tid === mainTid) { main += d; vcsMain += b.vcs - a.vcs; }
    else if (poolTids?.has(tid)) pool += d;
    else other += d;
  }
  return {
    rps: r.json.requests.total / r.json.duration, total: n, cpuUs: (main + pool + other) / n,
    user: (u1.userCPUTime - u0.userCPUTime) / n, sys: (u1.systemCPUTime - u0.systemCPUTime) / n,
    mainUs: main / n, poolUs: pool / n, otherUs: other / n, vcsMain: vcsMain / n, vcsAll: vcsAll / n, ics: ics / n,
    faults: (u1.minorPageFault - u0.minorPageFault) / n, acUs: r.cpuUs / n, non2xx: r.json.non2xx + r.json.errors,
  };
}
// warm-up with everything pooled so the pool threads exist; they are the threads that were not there before
variants.pooled!();
await run('/token', 1);
poolTids = new Set([...threads().keys()].filter((t) => !startThreads.has(t)));
process.stderr.write(`pool threads: ${[...poolTids].join(' ')}; others: ${[...startThreads].filter((t) => t !== mainTid).length}\n`);
for (const w of wanted) if (w !== 'hello' && w !== 'echo' && !w.startsWith('inproc')) { variants[w]!(); await run('/token', 1); }
await run('/hello', 1);

/** in process, one exchange at a time (a setImmediate every 10), as the bench's row 2; `spin`: a busy child on the other core meanwhile */
import { fstatSync } from 'node:fs';
const SYS = Number(process.env.SYS ?? 0);
function spreadCrypto(): JwsCrypto {
  const d = defaultJwsCrypto();
  return { ...d, verify: (a, k, x, g) => { fstatSync0(0); return d.verify(a, k, x, g); }, sign: (a, k, x) => { fstatSync0(0); return d.sign(a, k, x); } };
}
async function inproc(seconds: number, spin: 'no' | 'cpu' | 'sys' | 'withsys' | 'sysonly' | 'spread' | 'bunched' | 'ten'): Promise<Run> {
  const ch = spin !== 'cpu' && spin !== 'sys' ? undefined : spawn(process.execPath, ['-e', spin === 'cpu' ? 'for(;;){}' : 'const fs=require("fs");for(;;){fs.fstatSync(0)}'], { stdio: 'ignore' });
  if (ch !== undefined) await new Promise((r) => setTimeout(r, 200));
  variants.cur!();
  if (spin === 'spread') { const sc = spreadCrypto(); CryptoOffload.prototype.verifier = () => sc; spreadSys = true; }
  else CryptoOffload.prototype.verifier = () => defaultJwsCrypto();
  const perf = process.env.PERF === '1' ? spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', process.env.PERFF ?? '4000', '-p', String(process.pid), '-o', `/tmp/perf-${currentVariant}.data`], { stdio: 'ignore' }) : undefined;
  if (perf !== undefined) await new Promise((r) => setTimeout(r, 300));
  const t0 = threads();
  const u0 = process.resourceUsage();
  const end = performance.now() + seconds * 1000;
  let n = 0;
  while (performance.now() < end) {
    if (spin === 'withsys' || spin === 'sysonly') for (let k = 0; k < SYS; k++) fstatSync(0);
    if (spin === 'sysonly') { n++; continue; }
    if (spin === 'ten') {
      await Promise.all(Array.from({ length: 10 }, () => node.service.exchange({ form: parseFormBody(body), authorization, remoteAddr: '127.0.0.1' })));
      n += 10;
      await new Promise((r) => setImmediate(r));
      continue;
    }
    if (spin === 'bunched') for (let k = 0; k < 4; k++) fstatSync(0);
    if (spin === 'spread') await node.service.exchange(async () => { fstatSync(0); return { form: parseFormBody(body), authorization, remoteAddr: '127.0.0.1' }; });
    else await node.service.exchange({ form: parseFormBody(body), authorization, remoteAddr: '127.0.0.1' });
    if (++n % 10 === 0) await new Promise((r) => setImmediate(r));
  }
  const u1 = process.resourceUsage();
  const t1 = threads();
  spreadSys = false;
  ch?.kill();
  if (perf !== undefined) { perf.kill('SIGINT'); await new Promise((r) => perf.on('close', r)); process.stderr.write(`${currentVariant}: ${n} exchanges under perf\n`); }
  let main = 0, pool = 0, other = 0, vcsAll = 0, ics = 0;
  for (const [tid, b] of t1) {
    const a = t0.get(tid) ?? { cpuNs: 0, vcs: 0, ics: 0 };
    const d = (b.cpuNs - a.cpuNs) / 1000;
    vcsAll += b.vcs - a.vcs; ics += b.ics - a.ics;
    if (tid === mainTid) main += d; else if (poolTids?.has(tid)) pool += d; else other += d;
  }
  return { rps: n / seconds, total: n, cpuUs: (main + pool + other) / n, user: (u1.userCPUTime - u0.userCPUTime) / n, sys: (u1.systemCPUTime - u0.systemCPUTime) / n, mainUs: main / n, poolUs: pool / n, otherUs: other / n, vcsMain: 0, vcsAll: vcsAll / n, ics: ics / n, faults: (u1.minorPageFault - u0.minorPageFault) / n, acUs: 0, non2xx: 0 };
}
const results = new Map<string, Run[]>(wanted.map((w) => [w, []]));
const f = (x: number, d = 0) => x.toFixed(d);
for (let r = 0; r < ROUNDS; r++) {
  const order = wanted.map((_, i) => wanted[(i + r) % wanted.length]!);
  for (const w of order) {
    if (w.startsWith('inproc')) {
      currentVariant = w;
      const x = await inproc(SECONDS, w === 'inproc' ? 'no' : w === 'inproc+spin' ? 'cpu' : w === 'inproc+withsys' ? 'withsys' : w === 'inproc+sysonly' ? 'sysonly' : w === 'inproc+spread' ? 'spread' : w === 'inproc+bunched' ? 'bunched' : w === 'inproc10' ? 'ten' : 'sys');
      results.get(w)!.push(x);
      process.stderr.write(`r${r} ${w.padEnd(10)} ${f(x.rps).padStart(6)} op/s   cpu ${f(x.cpuUs)} µs (user ${f(x.user)} sys ${f(x.sys)}; main ${f(x.mainUs)} pool ${f(x.poolUs)} other ${f(x.otherUs)})  vcs all ${f(x.vcsAll, 2)} ics ${f(x.ics, 2)} faults ${f(x.faults, 2)}\n`);
      continue;
    }
    setDefaultJwsCrypto(nodeJwsCrypto, nodeJwsCryptoPooled);
    if (w !== 'hello' && w !== 'echo') variants[w]!();
    currentVariant = w;
    const x = await run(w === 'hello' ? '/hello' : w === 'echo' ? '/echo' : '/token', SECONDS);
    if (x.non2xx > 0) throw new Error(`${w}: ${x.non2xx} non-2xx/errors`);
    results.get(w)!.push(x);
    process.stderr.write(`r${r} ${w.padEnd(10)} ${f(x.rps).padStart(6)} req/s  cpu ${f(x.cpuUs)} µs (user ${f(x.user)} sys ${f(x.sys)}; main ${f(x.mainUs)} pool ${f(x.poolUs)} other ${f(x.otherUs)})  vcs main ${f(x.vcsMain, 2)} all ${f(x.vcsAll, 2)} ics ${f(x.ics, 2)}  faults ${f(x.faults, 2)}  autocannon ${f(x.acUs)} µs\n`);
  }
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log('variant     req/s(med)  cpu(med)  cpu(min)  main  pool  other  sys  vcs/req  autocannon µs/req');
for (const [w, xs] of results) {
  console.log(`${w.padEnd(10)} ${f(med(xs.map((x) => x.rps))).padStart(8)} ${f(med(xs.map((x) => x.cpuUs))).padStart(9)} ${f(Math.min(...xs.map((x) => x.cpuUs))).padStart(9)} ${f(med(xs.map((x) => x.mainUs))).padStart(5)} ${f(med(xs.map((x) => x.poolUs))).padStart(5)} ${f(med(xs.map((x) => x.otherUs))).padStart(6)} ${f(med(xs.map((x) => x.sys))).padStart(4)} ${f(med(xs.map((x) => x.vcsAll)), 2).padStart(8)} ${f(med(xs.map((x) => x.acUs))).padStart(8)}`);
}
await new Promise<void>((r) => server.close(() => r()));
await node.store.close();
rmSync(keysDir, { recursive: true, force: true });
process.exit(0);
