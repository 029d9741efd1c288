/**
 * Where decision lines go. The seam: a `LineSink` takes one rendered line and must never block or throw into a
 * decision path. `stdoutLines` is the default one, every hop through the same writer: on Workers one `console.log` per
 * line; on Node (once a Node entry ran `installNodeLineWriter`, `sink.node.ts`) lines are queued in a bounded buffer
 * and written in batches by asynchronous writes, so a decision never waits for the terminal or a pipe.
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

/**
 * Where `stdoutLines` puts lines: one runtime's standard output. The default (Workers, and Node until a Node entry
 * installs its writer) is one `console.log` per line: on Workers each call is one log entry, so a line stays one entry.
 * Node entries install the batched asynchronous writer of `sink.node.ts` (`installNodeLineWriter`).
 */
export interface LineWriter extends LineSink {
  /**
   * Queues a line rendered later, when its batch is written (off the decision path); a render that throws loses only
   * its line. A writer without batches renders at once.
   */
  writeLater(render: () => string): void;
  /** writes what is queued now, synchronously where the runtime can (before a process exits) */
  flush(): void;
  /** resolves once everything written so far has reached its destination (or was dropped) */
  drain(): Promise<void>;
}

/** One `console.log` per line (Workers' log; nothing is queued). */
export const consoleLines: LineWriter = {
  write(line) {
    deliver((text: string) => console.log(text), line);
  },
  writeLater(render) {
    deliver(() => console.log(render()));
  },
  flush() {},
  drain: () => Promise.resolve(),
};

let current: LineWriter = consoleLines;

/** Makes `w` the writer behind `stdoutLines` (a Node entry installs its batched asynchronous writer). */
export function useStdoutWriter(w: LineWriter): void {
  if (w === current) return;
  const before = current;
  current = w;
  before.flush();
}

/** The writer `stdoutLines` uses now. */
export function stdoutWriter(): LineWriter {
  return current;
}

/** The process's standard output (Node) or the Worker's log, never blocking a decision: see `LineWriter`. */
export const stdoutLines: LineSink & Pick<LineWriter, 'writeLater'> = {
  write(line) {
    current.write(line);
  },
  writeLater(render) {
    current.writeLater(render);
  },
};

/** Writes what `stdoutLines` holds now (before a process exits on its own). */
export function flushStdoutLines(): void {
  current.flush();
}

/** Resolves once every line handed to `stdoutLines` so far was written (or dropped). */
export function drainStdoutLines(): Promise<void> {
  return current.drain();
}

/** A writer that keeps every line in memory, rendering at once (tests: put it behind `stdoutLines` with `useStdoutWriter`). */
export function memoryLines(): LineWriter & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    write: (line) => void lines.push(line),
    writeLater: (render) => void lines.push(render()),
    flush() {},
    drain: () => Promise.resolve(),
  };
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
