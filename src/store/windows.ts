import type { RateLimitCheck, RateLimitResult } from './types.js';

/** A fixed rate-limit window held in memory (memory store, Durable Object). */
export interface RateWindow {
  count: number;
  resetAt: number;
}

/** Counts one call against `key` in `windows` (fixed window; refused calls are not counted). Synchronous. */
export function countWindow(windows: Map<string, RateWindow>, key: string, limit: number, windowMs: number, now: number): RateLimitResult {
  let w = windows.get(key);
  if (w === undefined || w.resetAt <= now) {
    w = { count: 0, resetAt: now + windowMs };
    windows.set(key, w);
  }
  const retryAfterSec = Math.max(1, Math.ceil((w.resetAt - now) / 1000));
  if (w.count >= limit) return { allowed: false, limit, remaining: 0, retryAfterSec };
  w.count += 1;
  return { allowed: true, limit, remaining: limit - w.count, retryAfterSec };
}

/** The `Store.rateLimitAll` contract over in-memory windows: in order, stopping at the first refusal. Synchronous. */
export function countWindows(windows: Map<string, RateWindow>, checks: readonly RateLimitCheck[], now: number): RateLimitResult[] {
  const out: RateLimitResult[] = [];
  for (const c of checks) {
    const r = countWindow(windows, c.key, c.limit, c.windowMs, now);
    out.push(r);
    if (!r.allowed) break;
  }
  return out;
}
