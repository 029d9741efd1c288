import type { RateLimitCheck, RateLimitResult, RevocationListener, Store, StoreHealth } from './types.js';
import { countWindow, countWindows, type RateWindow } from './windows.js';

/**
 * In-process store: the default for a single instance and for tests. Expired entries are swept lazily, a bounded
 * amount of work per call, so memory stays proportional to live entries.
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
    const prev = this.#revoked.get(txn) ?? 0;
    const until = Math.max(prev, untilEpochSec * 1000);
    this.#revoked.set(txn, until);
    for (const l of this.#listeners) l(txn, Math.floor(until / 1000));
  }

  async isRevoked(txn: string): Promise<boolean> {
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

  async health(): Promise<StoreHealth> {
    return { ok: true, backend: this.backend };
  }

  async close(): Promise<void> {
    this.#listeners.clear();
  }

  /** Drops up to a few expired entries every 64 operations. */
  #sweep(): void {
    if ((++this.#ops & 63) !== 0) return;
    const now = this.#now();
    let budget = 256;
    for (const [k, until] of this.#once) {
      if (budget-- <= 0) break;
      if (until <= now) this.#once.delete(k);
    }
    budget = 256;
    for (const [k, w] of this.#windows) {
      if (budget-- <= 0) break;
      if (w.resetAt <= now) this.#windows.delete(k);
    }
  }
}
