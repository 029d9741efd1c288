/**
 * Where decision lines go. The seam: a `LineSink` takes one rendered line and must never block or throw into a
 * decision path. `stdoutLines` is the default one: lines are queued and written together once the current task is done
 * (one `console.log` per batch, in the order written, every hop through the same queue), so a decision never waits for
 * the console. A batched asynchronous Node writer can replace it behind the same interface.
 */
import type { DecisionRecord } from './record.js';

export interface LineSink {
  write(line: string): void;
}

/** Receives each rendered line and the scrubbed record it was rendered from. */
export type DecisionLogSink = (line: string, record: Readonly<DecisionRecord>) => void;

/** Calls a sink; a failing sink never changes a decision (nor throws into the code that decided). */
export function deliver<A extends unknown[]>(sink: (...args: A) => void, ...args: A): void {
  try {
    sink(...args);
  } catch {
    /* a failing log sink never changes a decision */
  }
}

const queued: string[] = [];
let scheduled = false;

function flush(): void {
  scheduled = false;
  if (queued.length === 0) return;
  const batch = queued.splice(0, queued.length);
  deliver((text: string) => console.log(text), batch.join('\n'));
}

/** The process's standard output (Node) or the Worker's log, non-blocking: see the module comment. */
export const stdoutLines: LineSink = {
  write(line) {
    queued.push(line);
    if (!scheduled) {
      scheduled = true;
      queueMicrotask(flush);
    }
  },
};

/** Writes what `stdoutLines` holds now (before a process exits on its own). */
export function flushStdoutLines(): void {
  flush();
}

/** An in-memory sink that keeps every record (tests, the demo's trace). */
export function memorySink(): DecisionLogSink & { records: DecisionRecord[]; lines: string[] } {
  const records: DecisionRecord[] = [];
  const lines: string[] = [];
  const sink = (line: string, record: Readonly<DecisionRecord>) => {
    lines.push(line);
    records.push(record as DecisionRecord);
  };
  return Object.assign(sink, { records, lines });
}

/** Fans a line out to several sinks (e.g. stdout and memory); one failing sink does not silence the others. */
export function teeSink(...sinks: DecisionLogSink[]): DecisionLogSink {
  return (line, record) => {
    for (const s of sinks) deliver(s, line, record);
  };
}
