// `npm run bench -- log`: what a decision line costs the code that decided (issue 13, item 2).
// Every writer gets the same entries (a verifier's `authorize` entry, the most frequent line) through the one emitter
// (`decisionLog`: stamp, scrub, render once) and writes to /dev/null, so only the code is measured. Baton's default
// sink scrubs and renders when the batch is written; the others scrub and render in the emitting call:
//   before      the previous default: lines queued per microtask, one console.log per batch (standard output on
//               Linux writes synchronously; emulated by a synchronous write of the batch)
//   baton       the Node writer now installed by the Node entries (src/log/sink.node.ts): bounded buffer, one
//               asynchronous fs.write per turn of the event loop
//   baton writer  the same writer fed lines rendered in the emitting call (the writer alone against sonic-boom)
//   sonic-boom  pino's asynchronous destination (pino.destination({ sync: false, minLength: 4096 })), fed our lines
//   pino        pino itself (logger.info(entry) on the asynchronous destination): pino serialises the entry itself
// Measured per writer, in interleaved rounds (best kept): the time the deciding code spends per entry (p50, the part a
// request waits for) and the CPU per entry of the whole process until everything is written (includes the writes).
import { closeSync, openSync, writeSync } from 'node:fs';
import pino from 'pino';
import { decisionLog, stdoutDecisions, toJsonLine, useStdoutWriter, type DecisionRecord } from '../src/log/index.js';
import { createAsyncLineWriter } from '../src/log/sink.node.js';
import { fmt, machineLine, pct, printTable } from './lib/table.js';
import { cpuSince, settle } from './lib/timing.js';
import { percentileSorted } from './lib/stats.js';

const QUICK = process.env.BENCH_QUICK === '1';
const ENTRIES = QUICK ? 20_000 : 60_000;
const ROUNDS = QUICK ? 2 : 3;
const BURST = 50; // entries per turn of the event loop (a busy server finishes several requests per turn)

const devNull = openSync('/dev/null', 'w');
type Write = (line: string, entry: DecisionRecord) => void;
interface Writer {
  name: string;
  write: Write;
  drain: () => Promise<void>;
}

function before(): Writer {
  // the previous `stdoutLines`: a microtask batch, console.log of the joined lines (synchronous on Linux)
  const queued: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    writeSync(devNull, `${queued.splice(0, queued.length).join('\n')}\n`);
  };
  return {
    name: 'before: microtask batch, synchronous stdout write',
    write(line) {
      queued.push(line);
      if (!scheduled) {
        scheduled = true;
        queueMicrotask(flush);
      }
    },
    drain: async () => {},
  };
}
const batonWriter = createAsyncLineWriter({ fd: devNull });
function baton(): Writer {
  // the default path as the Node entries set it up: stdoutDecisions over the installed writer (entries rendered when
  // their batch is written)
  return { name: 'baton: stdoutDecisions, bounded buffer, batched async fs.write (now)', write: () => {}, drain: () => batonWriter.drain() };
}
function batonEager(): Writer {
  const w = createAsyncLineWriter({ fd: devNull });
  return { name: 'baton writer, lines rendered at emit (vs sonic-boom)', write: (line) => w.write(line), drain: () => w.drain() };
}
function sonic(): Writer {
  const d = pino.destination({ dest: '/dev/null', sync: false, minLength: 4096, maxLength: 8 * 1024 * 1024 });
  return {
    name: 'sonic-boom (pino.destination async), our lines',
    write: (line) => void d.write(`${line}\n`),
    drain: () => new Promise<void>((r) => d.flush(() => r())),
  };
}
function pinoItself(): Writer {
  const d = pino.destination({ dest: '/dev/null', sync: false, minLength: 4096, maxLength: 8 * 1024 * 1024 });
  const logger = pino({ base: null, timestamp: false }, d);
  return {
    name: 'pino logger.info(entry), async destination',
    write: (_line, entry) => logger.info(entry),
    drain: () => new Promise<void>((r) => d.flush(() => r())),
  };
}

const factories = [before, baton, batonEager, sonic, pinoItself];
const writers = factories.map((f) => f());
const entryFor = (i: number) => ({
  event: 'authorize', effect: i % 10 === 0 ? 'deny' : 'allow', txn: `0a6c0b1e-9d7f-4c1e-8f21-${String(i).padStart(12, '0')}`, sub: `user-${i % 1000}`,
  workload: 'orders-svc', chain: ['orders-svc', 'mcp-support-agent'], action: 'read', resource: { kind: 'ticket', id: `T-${i}` },
  policy: 'resource.ticket.vdefault', rule: 'owner-reads', reason: 'allowed by resource.ticket.vdefault#owner-reads',
});

interface Result { name: string; p50: number; p99: number; cpu: number; opsPerSec: number }
async function run(w: Writer): Promise<Result> {
  const isBaton = w.name.startsWith('baton');
  if (isBaton) useStdoutWriter(batonWriter);
  const log = isBaton ? decisionLog({ hop: 'orders-svc', sink: stdoutDecisions }) : decisionLog({ hop: 'orders-svc', sink: (e: DecisionRecord) => w.write(toJsonLine(e), e) });
  const per: number[] = [];
  settle();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ENTRIES; ) {
    for (let j = 0; j < BURST && i < ENTRIES; j++, i++) {
      const s = process.hrtime.bigint();
      log.emit(entryFor(i));
      per.push(Number(process.hrtime.bigint() - s) / 1000);
    }
    await new Promise((r) => setImmediate(r)); // the next turn: requests arrive, batches are written
  }
  await w.drain();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  per.sort((a, b) => a - b);
  return { name: w.name, p50: percentileSorted(per, 50), p99: percentileSorted(per, 99), cpu: cpuSince(cpu0) / ENTRIES, opsPerSec: ENTRIES / (ms / 1000) };
}

// one line must be what the writer received: render check
{
  const lines: string[] = [];
  decisionLog({ hop: 'h', sink: (e) => lines.push(toJsonLine(e)) }).emit(entryFor(1));
  if (!lines[0]!.startsWith('{"time":')) throw new Error('render check failed');
}
const best = new Map<string, Result>();
for (let r = 0; r < ROUNDS; r++)
  for (const w of writers) {
    const x = await run(w);
    const b = best.get(x.name);
    if (b === undefined || x.cpu < b.cpu) best.set(x.name, x);
  }
console.log(machineLine());
console.log(`${fmt(ENTRIES)} entries per writer and round, ${BURST} per turn of the event loop, ${ROUNDS} interleaved rounds (least CPU kept); destination /dev/null; pino ${(pino as unknown as { version: string }).version}`);
const ref = best.get(writers[1]!.name)!;
const st = batonWriter.stats();
console.log(`baton writer: ${fmt(st.accepted)} lines, ${fmt(st.batches)} batches, ${fmt(st.dropped)} dropped`);
printTable(
  'decision log writers (µs per entry; emit = stamp + scrub + render + hand over, what a decision waits for)',
  ['writer', 'emit p50 µs', 'emit p99 µs', 'CPU µs/entry (all, until written)', 'entries/s', 'CPU vs baton'],
  [...best.values()].map((x) => [x.name, fmt(x.p50, 2), fmt(x.p99, 2), fmt(x.cpu, 2), fmt(x.opsPerSec), pct(x.cpu / ref.cpu)]),
  ['left', 'right', 'right', 'right', 'right', 'right'],
);
const winner = [...best.values()].filter((x) => !x.name.startsWith('before')).reduce((a, b) => (b.cpu < a.cpu ? b : a));
console.log(`least CPU per entry (excluding the previous default): ${winner.name}`);
closeSync(devNull);
