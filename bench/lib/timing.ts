/** Timing loops shared by the benchmarks: warm up, then run for a fixed time (or until inputs run out). */
import { percentileSorted } from './stats.js';

export interface MeasureOptions {
  /** warm-up time before measuring, ms (default 300) */
  warmupMs?: number;
  /** measuring time, ms (default 2000) */
  durationMs?: number;
  /** stop after this many measured iterations (e.g. when each iteration consumes a pre-made input) */
  maxIterations?: number;
  /** stop warm-up after this many iterations */
  maxWarmupIterations?: number;
  /** record each iteration's duration (costs a clock read per iteration) for p50/p99 */
  perOp?: boolean;
  /**
   * measureAsync: give the event loop a turn (setImmediate) after every N operations, as a server does between
   * requests, so that work deferred to it (the decision log's batch) runs during the measurement: its time counts in
   * ops/s and CPU per op, not in an operation's own p50/p99.
   */
  yieldEvery?: number;
  /**
   * CPU µs of the measuring thread so far (the bench's `mainThreadUs`, from /proc): when given, `threadCpuUsPerOp` is
   * that thread's share of `cpuUsPerOp` (the rest is V8's and libuv's helper threads: GC, compiler, thread pool).
   */
  threadCpuUs?: () => number;
}

export interface Measurement {
  name: string;
  iterations: number;
  totalMs: number;
  opsPerSec: number;
  /** mean microseconds per operation */
  usPerOp: number;
  /**
   * CPU time of the whole process (all threads: main, libuv pool running WebCrypto jobs, GC) per operation, µs.
   * Unlike wall time it hardly moves when other processes compete for the cores.
   */
  cpuUsPerOp?: number;
  /** with `threadCpuUs`: the CPU of the measuring thread alone per operation, µs */
  threadCpuUsPerOp?: number;
  /** when perOp: per-operation percentiles, µs */
  p50Us?: number;
  p99Us?: number;
}

const nowNs = (): bigint => process.hrtime.bigint();

/** CPU microseconds (user + system, all threads) since `from`. */
export function cpuSince(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return d.user + d.system;
}

/** Where a measurement starts: the process's CPU and, when asked for, the measuring thread's. */
interface CpuStart {
  cpu: NodeJS.CpuUsage;
  thread?: { read: () => number; at: number };
}
function cpuStart(o: MeasureOptions): CpuStart {
  const read = o.threadCpuUs;
  return read === undefined ? { cpu: process.cpuUsage() } : { thread: { read, at: read() }, cpu: process.cpuUsage() };
}

function result(name: string, iterations: number, ns: bigint, per: number[] | undefined, start: CpuStart): Measurement {
  const cpuUs = cpuSince(start.cpu);
  const threadUs = start.thread === undefined ? undefined : start.thread.read() - start.thread.at;
  const totalMs = Number(ns) / 1e6;
  const m: Measurement = {
    name,
    iterations,
    totalMs,
    opsPerSec: iterations / (totalMs / 1000),
    usPerOp: (totalMs * 1000) / iterations,
    cpuUsPerOp: cpuUs / iterations,
  };
  if (threadUs !== undefined) m.threadCpuUsPerOp = threadUs / iterations;
  if (per !== undefined && per.length > 0) {
    per.sort((a, b) => a - b);
    m.p50Us = percentileSorted(per, 50);
    m.p99Us = percentileSorted(per, 99);
  }
  return m;
}

/**
 * Measures a synchronous operation. `fn(i)` receives the iteration index (warm-up iterations come first and
 * use their own indices, so inputs consumed by index are never reused between warm-up and measurement).
 * Checks the clock every 64 iterations to keep its cost out of fast operations.
 */
export function measureSync(name: string, fn: (i: number) => unknown, o: MeasureOptions = {}): Measurement {
  const warmupNs = BigInt(Math.round((o.warmupMs ?? 300) * 1e6));
  const durNs = BigInt(Math.round((o.durationMs ?? 2000) * 1e6));
  const maxWarm = o.maxWarmupIterations ?? Number.POSITIVE_INFINITY;
  let i = 0;
  const w0 = nowNs();
  while (i < maxWarm && (i & 63 || nowNs() - w0 < warmupNs)) fn(i++);
  const first = i;
  const max = first + (o.maxIterations ?? Number.POSITIVE_INFINITY);
  const per: number[] | undefined = o.perOp ? [] : undefined;
  const cpu0 = cpuStart(o);
  const t0 = nowNs();
  let t = t0;
  if (per !== undefined) {
    while (i < max && t - t0 < durNs) {
      fn(i++);
      const t1 = nowNs();
      per.push(Number(t1 - t) / 1000);
      t = t1;
    }
  } else {
    while (i < max && ((i - first) & 63 || (t = nowNs()) - t0 < durNs)) fn(i++);
    t = nowNs();
  }
  return result(name, i - first, t - t0, per, cpu0);
}

/** Measures an asynchronous operation, one at a time (each awaited before the next starts). */
export async function measureAsync(name: string, fn: (i: number) => Promise<unknown>, o: MeasureOptions = {}): Promise<Measurement> {
  const warmupNs = BigInt(Math.round((o.warmupMs ?? 300) * 1e6));
  const durNs = BigInt(Math.round((o.durationMs ?? 2000) * 1e6));
  const maxWarm = o.maxWarmupIterations ?? Number.POSITIVE_INFINITY;
  let i = 0;
  const w0 = nowNs();
  while (i < maxWarm && nowNs() - w0 < warmupNs) {
    await fn(i++);
    if (o.yieldEvery !== undefined && i % o.yieldEvery === 0) await new Promise((r) => setImmediate(r));
  }
  const first = i;
  const max = first + (o.maxIterations ?? Number.POSITIVE_INFINITY);
  const per: number[] | undefined = o.perOp ? [] : undefined;
  const cpu0 = cpuStart(o);
  const t0 = nowNs();
  let t = t0;
  const every = o.yieldEvery ?? 0;
  while (i < max && t - t0 < durNs) {
    await fn(i++);
    const t1 = nowNs();
    per?.push(Number(t1 - t) / 1000);
    t = t1;
    if (every > 0 && (i - first) % every === 0) {
      await new Promise((r) => setImmediate(r));
      t = nowNs();
    }
  }
  return result(name, i - first, t - t0, per, cpu0);
}

/** Forces a GC between measurements when node runs with --expose-gc; otherwise does nothing. */
export function settle(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === 'function') g();
}
