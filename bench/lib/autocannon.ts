/**
 * Runs autocannon in a CHILD process (never in the process that serves: the load generator would share the
 * server's event loop) and returns its JSON summary. Latencies are milliseconds as autocannon reports them.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';

export interface LoadOptions {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** concurrent connections (default 10) */
  connections?: number;
  /** seconds (default 5) */
  duration?: number;
  /** pipelining factor (default 1) */
  pipelining?: number;
}

export interface LoadResult {
  requestsPerSec: number;
  /** ms */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
  total: number;
  /** responses that were not 2xx */
  non2xx: number;
  errors: number;
  timeouts: number;
  durationSec: number;
}

interface AutocannonJson {
  requests: { average: number; total: number };
  latency: { p50: number; p90: number; p99: number; max: number; average: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  duration: number;
}

const require = createRequire(import.meta.url);

export function autocannonBin(): string {
  return require.resolve('autocannon/autocannon.js');
}

/**
 * Runs `node <args>` in a child process and returns the JSON value of the last line it printed; `what` names the child
 * in errors (a non-zero exit, or no JSON at the end, with the start of its stderr).
 */
export async function lastJsonLineOf<T>(args: readonly string[], what: string): Promise<T> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) throw new Error(`${what} exited with ${String(code)}: ${err.slice(0, 500)}`);
  try {
    return JSON.parse(out.trim().split('\n').pop() ?? '') as T;
  } catch {
    throw new Error(`${what} printed no JSON summary: ${err.slice(0, 500)}`);
  }
}

export async function runAutocannon(o: LoadOptions): Promise<LoadResult> {
  const args = [autocannonBin(), '--json', '--no-progress', '-c', String(o.connections ?? 10), '-d', String(o.duration ?? 5), '-p', String(o.pipelining ?? 1)];
  if (o.method !== undefined) args.push('-m', o.method);
  for (const [k, v] of Object.entries(o.headers ?? {})) args.push('-H', `${k}=${v}`);
  if (o.body !== undefined) args.push('-b', o.body);
  args.push(o.url);
  const j = await lastJsonLineOf<AutocannonJson>(args, 'autocannon');
  return {
    requestsPerSec: j.requests.total / j.duration,
    p50: j.latency.p50,
    p90: j.latency.p90,
    p99: j.latency.p99,
    max: j.latency.max,
    mean: j.latency.average,
    total: j.requests.total,
    non2xx: j.non2xx,
    errors: j.errors,
    timeouts: j.timeouts,
    durationSec: j.duration,
  };
}

/** A short unmeasured run, then the measured one. */
export async function warmAndRun(o: LoadOptions, warmupSec = 1): Promise<LoadResult> {
  await runAutocannon({ ...o, duration: warmupSec });
  return runAutocannon(o);
}
