// `npm run bench -- pdp`: the decision point over HTTP. `baton pdp` (the compiled `baton` command, its own process,
// decision log on: one line per decision to stdout, here /dev/null) beside a real Cerbos 0.55 server (`cerbos server`,
// audit off), on the same policies (the example support desk) and the same requests, loaded by autocannon in a child
// process: 10 connections, one run each (a short warm-up first). Scenarios: (a) `POST /api/check/resources`, a 3-action
// order check; (b) one AuthZEN evaluation, `POST /access/v1/evaluation`. Both servers run Cerbos's default evaluation
// (lenient). Goal: ≥ 4× Cerbos's requests/s and p99 ≤ ¼ of Cerbos's, each scenario; PASS/MISS printed.
// BATON_BENCH_SECONDS sets the measured duration (default 10).
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cerbosBinary, CERBOS_VERSION, startCerbos } from '../test/helpers/cerbos.js';
import { freePort } from '../test/helpers/net.js';
import { warmAndRun, type LoadResult } from './lib/autocannon.js';
import { fmt, machineLine, passMiss, printTable } from './lib/table.js';

const SECONDS = Number(process.env.BATON_BENCH_SECONDS ?? 10);
const root = fileURLToPath(new URL('..', import.meta.url));
const policies = fileURLToPath(new URL('../policies/', import.meta.url));

const check = JSON.stringify({
  requestId: 'bench',
  principal: { id: 'alice', roles: ['user'], attr: { workload: 'web-portal' } },
  resources: [{ resource: { kind: 'order', id: 'o-1', attr: { owner: 'alice', amount: 120 } }, actions: ['read', 'refund', 'cancel'] }],
});
const evaluation = JSON.stringify({
  subject: { type: 'user', id: 'alice', properties: { workload: 'web-portal' } },
  resource: { type: 'order', id: 'o-1', properties: { owner: 'alice', amount: 120 } },
  action: { name: 'read' },
});

async function startBatonPdp(): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [`${root}bin/baton.mjs`, 'pdp', '--policies', policies, '--port', String(port)], { stdio: ['ignore', 'ignore', 'pipe'], cwd: root });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 180_000; // the first run compiles src/ (bin/baton.mjs)
  for (;;) {
    if (child.exitCode !== null) throw new Error(`baton pdp exited: ${err.slice(-800)}`);
    try {
      if ((await fetch(`${url}/_cerbos/health`)).ok) return { url, child };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`baton pdp did not start: ${err.slice(-800)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function expectSame(a: string, b: string, path: string, body: string): Promise<void> {
  const ask = async (u: string) => {
    const j = (await (await fetch(u + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).json()) as Record<string, unknown>;
    delete j.cerbosCallId;
    return JSON.stringify(j.results ?? j, (_k, v: unknown) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => x.localeCompare(y))) : v));
  };
  const [x, y] = await Promise.all([ask(a), ask(b)]);
  if (x !== y) throw new Error(`the two servers answer ${path} differently:\n  baton ${x}\n  cerbos ${y}`);
}

const binary = cerbosBinary();
if (!binary.ok) {
  console.log(`Cerbos ${CERBOS_VERSION} binary unavailable (${binary.reason}): the PDP benchmark needs it as its baseline; skipped.`);
  process.exit(0);
}
console.log(machineLine());
console.log(`date: ${new Date().toISOString()}; autocannon 10 connections, ${SECONDS} s measured per server and scenario (1 s warm-up)`);
const baton = await startBatonPdp();
const cerbos = await startCerbos({ binary: binary.path, policyDir: policies, strictEvaluation: false }).catch((e: unknown) => {
  baton.child.kill('SIGTERM');
  throw e;
});
try {
  const scenarios: [string, string, string][] = [
    ['(a) POST /api/check/resources, 3-action order check', '/api/check/resources', check],
    ['(b) POST /access/v1/evaluation, one AuthZEN evaluation', '/access/v1/evaluation', evaluation],
  ];
  const rows: (string | number)[][] = [];
  const verdicts: string[] = [];
  for (const [name, path, body] of scenarios) {
    await expectSame(baton.url, cerbos.url, path, body);
    const load = (url: string): Promise<LoadResult> => warmAndRun({ url: url + path, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: 10, duration: SECONDS });
    const ours = await load(baton.url);
    const theirs = await load(cerbos.url);
    for (const [who, r] of [['baton pdp', ours], [`cerbos ${CERBOS_VERSION}`, theirs]] as const) {
      if (r.non2xx + r.errors + r.timeouts > 0) throw new Error(`${who} ${path}: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts`);
      rows.push([name, who, fmt(r.requestsPerSec), fmt(r.p50, 2), fmt(r.p99, 2), fmt(r.total)]);
    }
    const rps = ours.requestsPerSec / theirs.requestsPerSec;
    const p99 = ours.p99 / theirs.p99;
    verdicts.push(`${name}: ${rps.toFixed(2)}× Cerbos's req/s (goal ≥ 4×) ${passMiss(rps >= 4)}; p99 ${p99.toFixed(2)}× Cerbos's (goal ≤ 0.25×) ${passMiss(p99 <= 0.25)}`);
  }
  printTable('PDP over HTTP (same policies, same requests, same answers)', ['scenario', 'server', 'req/s', 'p50 ms', 'p99 ms', 'requests'], rows, ['left', 'left', 'right', 'right', 'right', 'right']);
  for (const v of verdicts) console.log(v);
} finally {
  baton.child.kill('SIGTERM');
  await cerbos.close();
}
