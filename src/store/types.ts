/**
 * The shared-state contract of Baton. Everything that must agree across TTS instances and verifying services
 * (single-use client assertion ids, revoked transactions, rate-limit counters) goes through this interface and
 * nothing else. Backends: `memory` (default, one process), `redis` (Node, ioredis), Durable Object (Workers).
 *
 * Every operation either answers or throws `StoreUnavailableError` within a bounded time: callers fail closed on it.
 */

export interface RateLimitResult {
  /** true when this call is within the limit (and was counted). */
  readonly allowed: boolean;
  readonly limit: number;
  /** calls left in the current window after this one (0 when refused). */
  readonly remaining: number;
  /** seconds until the window resets; the value for `Retry-After` when refused (at least 1). */
  readonly retryAfterSec: number;
}

/** One rate limit of a `rateLimitAll` call. */
export interface RateLimitCheck {
  readonly key: string;
  readonly limit: number;
  readonly windowMs: number;
}

export interface StoreHealth {
  readonly ok: boolean;
  readonly backend: string;
  readonly detail?: string;
}

export type RevocationListener = (txn: string, untilEpochSec: number) => void;

export interface Store {
  readonly backend: string;
  /**
   * Optional: true when keys never leave this process (the memory store): nobody else reads them and their only
   * bound is the store's memory. The limits then key a short `sub` as it is rather than by its hash (limits.ts).
   */
  readonly keysInProcess?: boolean;
  /**
   * Atomically records `id` in `namespace` for `ttlMs`. Returns true on first use, false when already seen
   * (a replay). Used for client-assertion `jti` (T-08) and the per-service replay guard (V-09).
   */
  useOnce(namespace: string, id: string, ttlMs: number): Promise<boolean>;
  /** Marks transaction `txn` revoked until `untilEpochSec` (the longest possible `exp` of its tokens). */
  revoke(txn: string, untilEpochSec: number): Promise<void>;
  isRevoked(txn: string): Promise<boolean>;
  /** Counts one call against `key`; fixed window of `windowMs`. Atomic across instances sharing the backend. */
  rateLimit(key: string, limit: number, windowMs: number): Promise<RateLimitResult>;
  /**
   * Several rate limits in one atomic step (one round trip where the backend allows it), in order: each check is
   * counted exactly as `rateLimit` would count it, until the first refused check; that one and every later check
   * are neither counted nor evaluated. Answers one result per evaluated check, so the answer is shorter than
   * `checks` only when its last result is a refusal. Same as awaiting `rateLimit` for each check in turn and
   * stopping at the first refusal, without the interleaving of other callers between the checks.
   * Optional for third-party stores: `rateLimitAll(store, checks)` below falls back to sequential calls.
   */
  rateLimitAll?(checks: readonly RateLimitCheck[]): Promise<RateLimitResult[]>;
  /** Optional push of revocations, so that verifiers can keep a local set (no round trip per check). */
  onRevoke?(listener: RevocationListener): () => void;
  /**
   * Optional: true while the `onRevoke` push is complete, i.e. connected, subscribed and resynchronised with every
   * revocation the backend holds, so a listener's local set may answer "not revoked" without a round trip. A store
   * without this method gives no such promise: its push (if any) may be used for positives only.
   */
  revocationFeedLive?(): boolean;
  health(): Promise<StoreHealth>;
  close(): Promise<void>;
}

/** The backend could not answer in bounded time. Callers fail closed: 503 `temporarily_unavailable`. */
export class StoreUnavailableError extends Error {
  readonly code = 'store_unavailable' as const;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/** `store.rateLimitAll(checks)`, or for a store without it the same contract with one `rateLimit` call at a time. */
export function rateLimitAll(store: Store, checks: readonly RateLimitCheck[]): Promise<RateLimitResult[]> {
  if (store.rateLimitAll !== undefined) return store.rateLimitAll(checks);
  return rateLimitSequential(store, checks);
}

/** The `rateLimitAll` contract as one `rateLimit` call at a time (not atomic across the checks). */
export async function rateLimitSequential(store: Store, checks: readonly RateLimitCheck[]): Promise<RateLimitResult[]> {
  const out: RateLimitResult[] = [];
  for (const c of checks) {
    const r = await store.rateLimit(c.key, c.limit, c.windowMs);
    out.push(r);
    if (!r.allowed) break;
  }
  return out;
}
