// `npm run bench -- pdp`: the decision point over HTTP. `baton pdp` (the compiled `baton` command, its own process,
// decision log on: one line per decision to stdout, here /dev/null) beside a real Cerbos 0.55 server (`cerbos server`,
// audit off), on the same policies (the example support desk) and the same requests, loaded by autocannon in a child
// process: 10 connections, one run each (a short warm-up first), the two servers back to back. Scenarios: (a)
// `POST /api/check/resources`, a 3-action order check; (b) one AuthZEN evaluation, `POST /access/v1/evaluation`. Both
// servers run Cerbos's default evaluation (lenient). Goal: ≥ 4× Cerbos's requests/s and p99 ≤ ¼ of Cerbos's, each
// scenario; PASS/MISS printed.
// Latency: autocannon's own summary rounds to whole milliseconds (its histogram's unit), too coarse for a p99 of 1-3 ms,
// so the load child also keeps the latency autocannon measured for every 2xx response (its `response` event, from
// process.hrtime) and the percentiles are computed from all of them, in µs; the same for both servers. Autocannon's
// whole-ms p99 is printed beside it. Also printed: each server's CPU time per request over the measured run (its
// process's user + system time from /proc, all threads: a figure the machine's other load disturbs less than req/s).
// BATON_BENCH_SECONDS sets the measured duration (default 10).
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cerbosBinary, CERBOS_VERSION, startCerbos } from '../test/helpers/cerbos.js';
import { freePort } from '../test/helpers/net.js';
import { autocannonBin, lastJsonLineOf, runAutocannon } from './lib/autocannon.js';
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

/**
 * The measured run's load child: autocannon (its programmatic API, in a process of its own) with the latency of every
 * 2xx response kept; prints one JSON line: autocannon's summary figures and the percentiles of all kept latencies.
 */
const LOAD_CHILD = `
const [bin, url, body, seconds] = process.argv.slice(1);
const autocannon = (await import('node:module')).createRequire(bin)(bin);
const lat = [];
const inst = autocannon({ url, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: 10, duration: Number(seconds) }, (err, r) => {
  if (err) throw err;
  const s = Float64Array.from(lat).sort();
  const at = (q) => (s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]);
  console.log(JSON.stringify({ total: r.requests.total, duration: r.duration, non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts, acP99: r.latency.p99, kept: s.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) }));
});
inst.on('response', (_client, status, _bytes, ms) => { if (status >= 200 && status < 300) lat.push(ms); });
`;

interface Measured {
  requestsPerSec: number;
  total: number;
  /** ms, from every 2xx response's latency */
  p50: number;
  p99: number;
  /** autocannon's own p99 (whole ms) */
  acP99: number;
  /** the server process's CPU µs per request over the measured run (undefined: no /proc) */
  cpuUsPerRequest: number | undefined;
  bad: number;
}

/** User + system CPU time of a process (all its threads), in µs, from /proc (Linux); undefined elsewhere. */
function cpuMicros(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1e6) / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

/** The Cerbos server's pid: the child of this process named cerbos (startCerbos does not hand it out). */
function cerbosPid(): number | undefined {
  try {
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (name === 'cerbos' && ppid === process.pid) return Number(d);
    }
  } catch {
    // no /proc: CPU per request is not shown
  }
  return undefined;
}

/** A 1 s warm-up (autocannon's CLI), then the measured run in the load child, the server's CPU time read around it. */
async function measure(url: string, body: string, pid: number | undefined): Promise<Measured> {
  await runAutocannon({ url, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: 10, duration: 1 });
  const before = cpuMicros(pid);
  const j = await lastJsonLineOf<{ total: number; duration: number; non2xx: number; errors: number; timeouts: number; acP99: number; p50: number; p99: number }>(
    ['--input-type=module', '-e', LOAD_CHILD, autocannonBin(), url, body, String(SECONDS)],
    'the load child',
  );
  const after = cpuMicros(pid);
  return {
    requestsPerSec: j.total / j.duration,
    total: j.total,
    p50: j.p50,
    p99: j.p99,
    acP99: j.acP99,
    cpuUsPerRequest: before === undefined || after === undefined ? undefined : (after - before) / j.total,
    bad: j.non2xx + j.errors + j.timeouts,
  };
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
  const cerbosProcess = cerbosPid();
  for (const [name, path, body] of scenarios) {
    await expectSame(baton.url, cerbos.url, path, body);
    const ours = await measure(baton.url + path, body, baton.child.pid);
    const theirs = await measure(cerbos.url + path, body, cerbosProcess);
    for (const [who, r] of [['baton pdp', ours], [`cerbos ${CERBOS_VERSION}`, theirs]] as const) {
      if (r.bad > 0) throw new Error(`${who} ${path}: ${r.bad} non-2xx answers, errors or timeouts`);
      rows.push([name, who, fmt(r.requestsPerSec), fmt(r.p50, 2), fmt(r.p99, 2), fmt(r.acP99), fmt(r.cpuUsPerRequest, 1), fmt(r.total)]);
    }
    const rps = ours.requestsPerSec / theirs.requestsPerSec;
    const p99 = ours.p99 / theirs.p99;
    const cpu = ours.cpuUsPerRequest !== undefined && theirs.cpuUsPerRequest !== undefined ? `; CPU per request ${(ours.cpuUsPerRequest / theirs.cpuUsPerRequest).toFixed(2)}× Cerbos's` : '';
    verdicts.push(`${name}: ${rps.toFixed(2)}× Cerbos's req/s (goal ≥ 4×) ${passMiss(rps >= 4)}; p99 ${p99.toFixed(2)}× Cerbos's (goal ≤ 0.25×) ${passMiss(p99 <= 0.25)}${cpu}`);
  }
  printTable(
    'PDP over HTTP (same policies, same requests, same answers; p50/p99 from every response, autocannon\'s whole-ms p99 beside)',
    ['scenario', 'server', 'req/s', 'p50 ms', 'p99 ms', 'autocannon p99 ms', 'server CPU µs/req', 'requests'],
    rows,
    ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right'],
  );
  for (const v of verdicts) console.log(v);
} finally {
  baton.child.kill('SIGTERM');
  await cerbos.close();
}
