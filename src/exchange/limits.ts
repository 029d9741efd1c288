import { base64url } from 'jose';
import { defaultJwsCrypto } from '../jose/jws.js';
import { sha256 } from '../jose/sha256.js';
import type { RateLimitCheck, RateLimitResult, Store } from '../store/types.js';
import { rateLimitAll, StoreUnavailableError } from '../store/types.js';
import type { Workload } from './client-auth.js';
import { rateLimitOf, type TtsContext } from './context.js';
import { OAuthError, unavailable, type RefusalReason } from './errors.js';

/**
 * The limits step: per workload and per (workload, user) budgets, counted in the store (429 with `Retry-After` when
 * spent, 503 when the store cannot answer: fail closed). Store round trips overlap the CPU work of the other steps:
 * each check is started early and awaited only where it matters.
 */

/** The exchange's limits, started: per client, then per (client, claimedSub) when there is one. */
export interface StartedLimits {
  /** rejects with an OAuthError */
  readonly results: Promise<RateLimitResult[]>;
  readonly claimedSub: string | undefined;
}

type LimitsContext = Pick<TtsContext, 'store' | 'config'>;

/**
 * Starts the exchange's rate limits in one store call: per client, then per (client, `claimedSub`) when the subject
 * token names a sub. `claimedSub` is read without verification: it only chooses which counter to start counting
 * early. Its result is used only after validation, and only when the validated sub is the same string
 * (`subjectVerdict`); otherwise the validated sub's counter is counted on its own. Consequence (documented): a subject
 * token that names a sub but fails validation still spends one unit of that (client, sub) budget, i.e. a workload can
 * only spend its own budget. Nothing is counted per subject when the client is refused.
 */
export function startLimits(ctx: LimitsContext, workload: Workload, claimedSub: string | undefined): StartedLimits {
  const l = rateLimitOf(ctx, workload);
  const windowMs = l.windowSeconds * 1000;
  const checks: RateLimitCheck[] = [{ key: `rl:c:${workload.id}`, limit: l.perClient, windowMs }];
  if (claimedSub !== undefined) checks.push({ key: `rl:${subjectLimitKey(workload.id, claimedSub, ctx.store)}`, limit: l.perSubject, windowMs });
  return { results: started(checkAll(ctx, checks)), claimedSub };
}

/** The store's answer to `checks`, checked (one `then` on the store's promise, no async frame around it). */
function checkAll(ctx: LimitsContext, checks: readonly RateLimitCheck[]): Promise<RateLimitResult[]> {
  let p: Promise<RateLimitResult[]>;
  try {
    p = rateLimitAll(ctx.store, checks);
  } catch (e) {
    p = Promise.reject(e);
  }
  return p.then(
    (r) => {
      // a refusal ends the answer early; anything else shorter is a broken store: fail closed
      const last = r[r.length - 1];
      if (last === undefined || (r.length < checks.length && last.allowed)) throw limitUnavailable(new StoreUnavailableError('rate limit answer is incomplete'));
      return r;
    },
    (e: unknown) => {
      if (e instanceof StoreUnavailableError) throw limitUnavailable(e);
      throw e;
    },
  );
}

/** The per-client verdict: a workload over its limit gets 429 whatever its subject token. */
export function clientVerdict(limits: StartedLimits): Promise<void> {
  return limits.results.then(([client]) => {
    if (client === undefined || !client.allowed) throw rateLimited(client, 'limit.client');
  });
}

/** The per-(client, subject) verdict for the VALIDATED `sub`: the early count when it was for the same sub, else a new count. */
export function subjectVerdict(ctx: LimitsContext, limits: StartedLimits, workload: Workload, sub: string): Promise<void> {
  if (limits.claimedSub === sub) {
    return started(
      limits.results.then((r) => {
        const s = r[1];
        if (s === undefined || !s.allowed) throw rateLimited(s, 'limit.subject');
      }),
    );
  }
  const l = rateLimitOf(ctx, workload);
  return started(limit(ctx, subjectLimitKey(workload.id, sub, ctx.store), l.perSubject, l.windowSeconds, 'limit.subject'));
}

/** /revoke's own budget: the workload's `perClient`, counted apart from exchanges. */
export function revokeLimit(ctx: LimitsContext, workload: Workload): Promise<void> {
  const l = rateLimitOf(ctx, workload);
  return limit(ctx, `r:${workload.id}`, l.perClient, l.windowSeconds, 'limit.revoke');
}

async function limit(ctx: LimitsContext, key: string, max: number, windowSeconds: number, reason: RefusalReason): Promise<void> {
  let r;
  try {
    r = await ctx.store.rateLimit(`rl:${key}`, max, windowSeconds * 1000);
  } catch (e) {
    if (e instanceof StoreUnavailableError) throw limitUnavailable(e);
    throw e;
  }
  if (!r.allowed) throw rateLimited(r, reason);
}

function rateLimited(r: RateLimitResult | undefined, reason: RefusalReason): OAuthError {
  if (r === undefined) return limitUnavailable(new StoreUnavailableError('rate limit answer is incomplete'));
  return new OAuthError('temporarily_unavailable', 'rate limit exceeded; retry later', { reason, status: 429, headers: { 'Retry-After': String(r.retryAfterSec) } });
}

function limitUnavailable(e: StoreUnavailableError): OAuthError {
  return unavailable('limit.unavailable', 'rate limit check unavailable; retry later', e);
}

const enc = new TextEncoder();

/** Longest `sub` keyed as it is in a store whose keys stay in the process: the length of its hash in base64url. */
export const RAW_SUB_KEY_CHARS = 43;

/**
 * The per-(workload, user) rate-limit key. The user part hashed (`s:`), so any `sub` fits every backend's key limits
 * (Redis, the Durable Object: their keys are unchanged). In a store whose keys never leave the process (`keysInProcess`: the memory
 * store) a `sub` no longer than its hash is keyed as it is (`u:`, the workload's length first: two (workload, sub)
 * pairs never share a key), without the hash; a key is never longer than the hashed one. Each (workload, sub) has
 * one key either way: limits count per client and subject exactly as with the hash.
 */
export function subjectLimitKey(workload: string, sub: string, store?: Pick<Store, 'keysInProcess'>): string {
  if (store?.keysInProcess === true && sub.length <= RAW_SUB_KEY_CHARS) return `u:${workload.length}:${workload}:${sub}`;
  return `s:${workload}:${(defaultJwsCrypto().base64url ?? base64url).encode(sha256(enc.encode(sub)))}`;
}

/** Starts a check now and awaits it later: a rejection is observed where it is awaited, never unhandled. */
export function started<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}
