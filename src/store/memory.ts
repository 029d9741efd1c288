import type { RateLimitCheck, RateLimitResult, RevocationListener, Store, StoreHealth } from './types.js';
import { countWindow, countWindows, type RateWindow } from './windows.js';

/**
 * In-process store: the default for a single instance and for tests. Expired entries (single-use ids, revocations,
 * rate-limit windows) are swept lazily by every operation, a bounded amount of work per call, so memory stays
 * proportional to live entries.
 */
export class MemoryStore implements Store {
  readonly backend = 'memory';
  readonly #once = new Map<string, number>();
  readonly #revoked = new Map<string, number>();
  readonly #windows = new Map<string, RateWindow>();
  readonly #listeners = new Set<RevocationListener>();
  readonly #now: () => number;
  #ops = 0;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  async useOnce(namespace: string, id: string, ttlMs: number): Promise<boolean> {
    this.#sweep();
    const key = `${namespace}\u0000${id}`;
    const now = this.#now();
    const until = this.#once.get(key);
    if (until !== undefined && until > now) return false;
    this.#once.set(key, now + Math.max(1, ttlMs));
    return true;
  }

  async revoke(txn: string, untilEpochSec: number): Promise<void> {
    this.#sweep();
    const prev = this.#revoked.get(txn) ?? 0;
    const until = Math.max(prev, untilEpochSec * 1000);
    this.#revoked.set(txn, until);
    for (const l of this.#listeners) l(txn, Math.floor(until / 1000));
  }

  async isRevoked(txn: string): Promise<boolean> {
    this.#sweep();
    const until = this.#revoked.get(txn);
    if (until === undefined) return false;
    if (until <= this.#now()) {
      this.#revoked.delete(txn);
      return false;
    }
    return true;
  }

  async rateLimit(key: string, limit: number, windowMs: number): Promise<RateLimitResult> {
    this.#sweep();
    return countWindow(this.#windows, key, limit, windowMs, this.#now());
  }

  async rateLimitAll(checks: readonly RateLimitCheck[]): Promise<RateLimitResult[]> {
    this.#sweep();
    return countWindows(this.#windows, checks, this.#now());
  }

  onRevoke(listener: RevocationListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Entries held now, expired ones not yet swept included (diagnostics and tests). */
  entryCounts(): { once: number; revoked: number; windows: number } {
    return { once: this.#once.size, revoked: this.#revoked.size, windows: this.#windows.size };
  }

  async health(): Promise<StoreHealth> {
    return { ok: true, backend: this.backend };
  }

  async close(): Promise<void> {
    this.#listeners.clear();
  }

  /**
   * Every 64 operations, looks at up to 256 entries of each map from its oldest end: expired ones are dropped, live
   * ones move to the young end, so successive sweeps walk the whole map (a head of long-lived entries never hides
   * the expired ones behind it). Four entries looked at per operation, at most one added: memory follows live entries.
   */
  #sweep(): void {
    if ((++this.#ops & 63) !== 0) return;
    const now = this.#now();
    sweepMap(this.#once, (until) => until <= now);
    sweepMap(this.#revoked, (until) => until <= now);
    sweepMap(this.#windows, (w) => w.resetAt <= now);
  }
}

function sweepMap<V>(map: Map<string, V>, expired: (v: V) => boolean, budget = 256): void {
  const n = Math.min(budget, map.size);
  const it = map.entries();
  const live: Array<[string, V]> = [];
  for (let i = 0; i < n; i++) {
    const r = it.next();
    if (r.done) break;
    const [k, v] = r.value;
    map.delete(k);
    if (!expired(v)) live.push([k, v]);
  }
  for (const [k, v] of live) map.set(k, v);
}
