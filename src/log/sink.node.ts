/**
 * The Node writer behind `stdoutLines`: decision lines are queued in a bounded buffer and written in batches, one
 * asynchronous `fs.write` at a time (libuv's thread pool), so a decision never waits for the terminal, a file or a full
 * pipe (on Linux `process.stdout` writes synchronously to all three). A batch is what was queued in `LINGER_MS` after
 * its first line (sooner past `SOON_BYTES`, at once on `drain`): under load one write per many decisions, not one per
 * turn of the event loop (each write wakes a thread of the pool: a measured 10% of a check over HTTP, issue 14). An
 * entry handed over by the emitter (`writeLater`) is scrubbed and rendered, once, when its batch is written: the
 * decision only stamps and queues it. When the destination does not keep up and the buffer is full, new lines are
 * dropped and counted (never blocking, never growing without bound); the count is reported in the log itself, as one
 * `log_dropped` line, once writing catches up, and by `stats()`.
 */
import { write as fsWrite, writeSync } from 'node:fs';
import { useStdoutWriter, type LineWriter } from './sink.js';
import { toJsonLine } from './scrub.js';

export interface AsyncLineWriterOptions {
  /** file descriptor written to; default 1 (standard output) */
  fd?: number;
  /** most bytes queued or being written; lines beyond are dropped and counted. Default 8 MiB. */
  maxBufferedBytes?: number;
  /** clock of the `log_dropped` line */
  now?: () => Date;
}

export interface LineWriterStats {
  /** lines handed to the writer */
  accepted: number;
  /** lines dropped because the buffer was full (or the destination failed) */
  dropped: number;
  /** batches written */
  batches: number;
  /** bytes queued or being written now */
  bufferedBytes: number;
}

export interface AsyncLineWriter extends LineWriter {
  stats(): LineWriterStats;
}

export const DEFAULT_MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
const RETRY_MS = 10;
/** How long a batch gathers lines after its first one before it is rendered and written. */
export const LINGER_MS = 5;
/** Queued bytes past which the batch is written at the next turn of the event loop instead. */
const SOON_BYTES = 64 * 1024;
/** What a line not rendered yet counts against the bound (a decision line is a few hundred bytes, at most ~40 KiB). */
const LATER_LINE_BYTES = 1024;

/** A batched asynchronous line writer on a file descriptor (see the module comment). */
export function createAsyncLineWriter(o: AsyncLineWriterOptions = {}): AsyncLineWriter {
  return new FdLineWriter(o.fd ?? 1, o.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES, o.now ?? (() => new Date()));
}

/**
 * Lines flow: `pending` (handed over, maybe not rendered) → `ready` (rendered text, once per turn of the event loop,
 * whether or not a write is in flight) → `inFlight` (one `fs.write` at a time). The bound counts all three.
 */
class FdLineWriter implements AsyncLineWriter {
  #pending: Array<string | (() => string)> = [];
  #pendingBytes = 0; // UTF-16 length + 1 per line (the UTF-8 size of ASCII lines); LATER_LINE_BYTES per unrendered one
  #ready = '';
  #inFlight: Buffer | undefined;
  /** a turn is scheduled: `#lingering` when by the linger timer (it may be brought forward), else at the next turn */
  #scheduled = false;
  #lingering: ReturnType<typeof setTimeout> | undefined;
  #unreported = 0;
  #waiters: Array<() => void> = [];
  readonly #s: LineWriterStats = { accepted: 0, dropped: 0, batches: 0, bufferedBytes: 0 };
  readonly #turn = (): void => {
    this.#scheduled = false;
    this.#lingering = undefined;
    this.#render();
    this.#pump();
  };

  constructor(
    readonly fd: number,
    readonly max: number,
    readonly now: () => Date,
  ) {}

  write(line: string): void {
    this.#enqueue(line, line.length + 1);
  }

  writeLater(render: () => string): void {
    this.#enqueue(render, LATER_LINE_BYTES);
  }

  flush(): void {
    this.#render();
    // Even with a write in flight (a process exiting does not wait for it): these lines could then land before the
    // batch in flight, never lost to the exit. Used before a process ends and when another writer takes over.
    if (this.#ready.length === 0) return;
    const text = this.#ready;
    this.#ready = '';
    try {
      writeSync(this.fd, text);
      this.#s.batches++;
    } catch {
      this.#s.dropped += countLines(text);
    }
    this.#settled();
  }

  drain(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#waiters.push(resolve);
      if (this.#scheduled) this.#schedule(true); // a lingering batch is written now
      this.#settled();
    });
  }

  stats(): LineWriterStats {
    return { ...this.#s, bufferedBytes: this.#buffered() };
  }

  #buffered(): number {
    return this.#pendingBytes + this.#ready.length + (this.#inFlight?.length ?? 0);
  }

  #enqueue(line: string | (() => string), size: number): void {
    this.#s.accepted++;
    if (this.#buffered() + size > this.max) {
      this.#s.dropped++;
      this.#unreported++;
      return;
    }
    this.#pending.push(line);
    this.#pendingBytes += size;
    this.#schedule(this.#pendingBytes >= SOON_BYTES);
  }

  /** Schedules the next batch: after the linger, or (`soon`) at the next turn of the event loop. */
  #schedule(soon: boolean): void {
    if (!this.#scheduled) {
      this.#scheduled = true;
      if (soon) setImmediate(this.#turn);
      else this.#lingering = setTimeout(this.#turn, LINGER_MS);
    } else if (soon && this.#lingering !== undefined) {
      clearTimeout(this.#lingering);
      this.#lingering = undefined;
      setImmediate(this.#turn);
    }
  }

  /** Renders what is pending (and a `log_dropped` line when lines were dropped since the last one). */
  #render(): void {
    const lines = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    let text = '';
    for (const l of lines) {
      try {
        text += `${typeof l === 'string' ? l : l()}\n`;
      } catch {
        this.#s.dropped++; // a line that cannot be rendered is lost alone
      }
    }
    if (this.#unreported > 0) {
      // one short line past the bound: the count of what was lost is never lost itself
      const dropped = { time: this.now().toISOString(), hop: 'log', event: 'log_dropped', effect: 'none', dropped: this.#unreported, reason: 'the decision log buffer was full' };
      text += `${toJsonLine(dropped)}\n`;
      this.#unreported = 0;
    }
    this.#ready += text;
  }

  #pump(): void {
    if (this.#inFlight !== undefined) return; // its callback pumps again
    if (this.#ready.length === 0) return this.#settled();
    const buf = Buffer.from(this.#ready);
    this.#ready = '';
    this.#s.batches++;
    this.#writeOut(buf);
  }

  #writeOut(buf: Buffer): void {
    this.#inFlight = buf;
    fsWrite(this.fd, buf, 0, buf.length, null, (err, n) => {
      if (err !== null && (err as NodeJS.ErrnoException).code === 'EAGAIN') {
        setTimeout(() => this.#writeOut(buf), RETRY_MS); // a non-blocking pipe that is full: try again shortly
        return;
      }
      this.#inFlight = undefined;
      if (err !== null) this.#s.dropped += countLines(buf.toString());
      else if (n < buf.length) return this.#writeOut(buf.subarray(n));
      this.#pump();
    });
  }

  #settled(): void {
    if (this.#inFlight !== undefined || this.#pending.length > 0 || this.#ready.length > 0 || this.#scheduled) return;
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }
}

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

let installed: AsyncLineWriter | undefined;

/**
 * Makes the batched asynchronous writer on standard output the writer of `stdoutLines` (once per process; later calls
 * return the same writer). The Node entries (`baton serve`, `baton/verify` on Node, `baton-tts-log` on Node) call it.
 */
export function installNodeLineWriter(): AsyncLineWriter {
  if (installed === undefined) {
    installed = createAsyncLineWriter({ fd: 1 });
    useStdoutWriter(installed);
    const w = installed;
    process.once('exit', () => w.flush());
  }
  return installed;
}
