/**
 * What the Redis backend runs inside Redis (Lua scripts, each one atomic step) and the pure helpers around them: no
 * connection, no Node API. The client is store/redis.ts.
 */
import type { RateLimitResult } from './types.js';

export interface ScriptedClient {
  batonRevoke(key: string, untilSec: string, untilMs: string, channel: string, message: string): Promise<number>;
  batonRateLimit(key: string, limit: string, windowMs: string): Promise<[number, number, number]>;
  batonRateLimitAll(numKeys: number, ...keysThenArgs: string[]): Promise<[number, number, number][]>;
}

/** Marks `txn` revoked until ARGV[2] (ms), keeping the later of the existing and the new time; publishes on change. */
export const REVOKE_LUA = `
local new = tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if cur >= new then return cur end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if tonumber(ARGV[2]) <= now then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return new
`;

/** Fixed window: refused calls are not counted. Returns {allowed, count, pttl}. */
export const RATE_LIMIT_LUA = `
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local count = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  count = 0
  redis.call('SET', KEYS[1], '0', 'PX', window)
  ttl = window
end
if count >= limit then return {0, count, ttl} end
count = redis.call('INCR', KEYS[1])
return {1, count, ttl}
`;

/**
 * `rateLimitAll`: the fixed window of RATE_LIMIT_LUA for KEYS[i] with limit ARGV[2i-1] and window ARGV[2i], in order,
 * stopping at the first refusal (that key and the later ones are not counted). Returns one {allowed, count, pttl}
 * per evaluated key.
 */
export const RATE_LIMIT_ALL_LUA = `
local out = {}
for i = 1, #KEYS do
  local limit = tonumber(ARGV[2 * i - 1])
  local window = tonumber(ARGV[2 * i])
  local count = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
  local ttl = redis.call('PTTL', KEYS[i])
  if ttl < 0 then
    count = 0
    redis.call('SET', KEYS[i], '0', 'PX', window)
    ttl = window
  end
  if count >= limit then
    out[i] = {0, count, ttl}
    return out
  end
  count = redis.call('INCR', KEYS[i])
  out[i] = {1, count, ttl}
end
return out
`;

export function positiveInt(name: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`${name} must be a positive finite number`);
  return Math.max(1, Math.ceil(v));
}

/** Validates a limit and returns the window in whole milliseconds. */
export function checkLimit(limit: number, windowMs: number): number {
  if (!Number.isInteger(limit) || limit < 0) throw new RangeError('limit must be a non-negative integer');
  return positiveInt('windowMs', windowMs);
}

/** A script's {allowed, count, pttl} as a `RateLimitResult`. */
export function rateResult([allowed, count, pttl]: [number, number, number], limit: number): RateLimitResult {
  const retryAfterSec = Math.max(1, Math.ceil(Number(pttl) / 1000));
  if (allowed !== 1) return { allowed: false, limit, remaining: 0, retryAfterSec };
  return { allowed: true, limit, remaining: Math.max(0, limit - Number(count)), retryAfterSec };
}

/** Escapes glob characters for SCAN MATCH. */
export function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

