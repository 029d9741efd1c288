/**
 * The Node writer behind `stdoutLines`: decision lines are queued in a bounded buffer and written in batches, one
 * asynchronous `fs.write` at a time (libuv's thread pool), so a decision never waits for the terminal, a file or a full
 * pipe (on Linux `process.stdout` writes synchronously to all three). A line is rendered once, by the emitter; here it
 * is only joined into its batch. When the destination does not keep up and the buffer is full, new lines are dropped
 * and counted (never blocking, never growing without bound); the count is reported in the log itself, as one
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

/** A batched asynchronous line writer on a file descriptor (see the module comment). */
export function createAsyncLineWriter(o: AsyncLineWriterOptions = {}): AsyncLineWriter {
  const fd = o.fd ?? 1;
  const max = o.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  const now = o.now ?? (() => new Date());
  let queue: string[] = [];
  let queuedBytes = 0; // UTF-16 length + 1 per line: the UTF-8 size of ASCII lines, and what the bound counts
  let inFlight: Buffer | undefined;
  let scheduled = false;
  let unreported = 0;
  let waiters: Array<() => void> = [];
  const s: LineWriterStats = { accepted: 0, dropped: 0, batches: 0, bufferedBytes: 0 };

  function take(): Buffer | undefined {
    if (unreported > 0) {
      const line = toJsonLine({ time: now().toISOString(), hop: 'log', event: 'log_dropped', effect: 'none', dropped: unreported, reason: 'the decision log buffer was full' });
      queue.push(line);
      queuedBytes += line.length + 1;
      unreported = 0;
    }
    if (queue.length === 0) return undefined;
    const text = `${queue.join('\n')}\n`;
    s.batches++;
    queue = [];
    queuedBytes = 0;
    return Buffer.from(text);
  }

  function settled(): void {
    if (inFlight !== undefined || queue.length > 0 || scheduled) return;
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  }

  function writeOut(buf: Buffer): void {
    inFlight = buf;
    fsWrite(fd, buf, 0, buf.length, null, (err, n) => {
      if (err !== null && (err as NodeJS.ErrnoException).code === 'EAGAIN') {
        setTimeout(() => writeOut(buf), RETRY_MS); // a non-blocking pipe that is full: try again shortly
        return;
      }
      inFlight = undefined;
      if (err !== null) s.dropped += countLines(buf);
      else if (n < buf.length) return writeOut(buf.subarray(n));
      next();
    });
  }

  function next(): void {
    scheduled = false;
    if (inFlight !== undefined) return; // the write in flight calls next() when it is done
    const buf = take();
    if (buf !== undefined) writeOut(buf);
    else settled();
  }

  const writer: AsyncLineWriter = {
    write(line) {
      s.accepted++;
      const size = line.length + 1;
      if (queuedBytes + (inFlight?.length ?? 0) + size > max) {
        s.dropped++;
        unreported++;
        return;
      }
      queue.push(line);
      queuedBytes += size;
      if (!scheduled && inFlight === undefined) {
        scheduled = true;
        setImmediate(next); // lines of every request finished in this turn of the event loop go in one batch
      }
    },
    flush() {
      if (inFlight !== undefined) return; // its callback writes the rest; a process exiting now loses only what is in flight
      const buf = take();
      if (buf === undefined) return;
      try {
        writeSync(fd, buf);
      } catch {
        s.dropped += countLines(buf);
      }
      settled();
    },
    drain() {
      return new Promise<void>((resolve) => {
        waiters.push(resolve);
        settled();
      });
    },
    stats() {
      return { ...s, bufferedBytes: queuedBytes + (inFlight?.length ?? 0) };
    },
  };
  return writer;
}

function countLines(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) n++;
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
