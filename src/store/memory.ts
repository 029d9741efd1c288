import type { RateLimitCheck, RateLimitResult, RevocationListener, Store, StoreHealth } from './types.js';
import { countWindow, countWindows, type RateWindow } from './windows.js';

/**
 * In-process store: the default for a single instance and for tests. Expired entries (single-use ids, revocations,
 * rate-limit windows) are swept lazily by every operation, a bounded amount of work per call, so memory stays
 * proportional to live entries.
 */
export class MemoryStore implements Store {
  readonly backend = 'memory';
  readonly keysInProcess: boolean = true;
  readonly #once = new Map<string, number>();
  readonly #revoked = new Map<string, number>();
  readonly #windows = new Map<string, RateWindow>();
  readonly #listeners = new Set<RevocationListener>();
  readonly #now: () => number;
  #ops = 0;
  readonly #onceSweep = new MapSweep(this.#once);
  readonly #revokedSweep = new MapSweep(this.#revoked);
  readonly #windowsSweep = new MapSweep(this.#windows);

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
   * Every 64 operations, looks at up to 256 entries of each map, going on from where the last sweep of that map
   * stopped (back to the oldest entry after the youngest): expired ones are dropped, live ones left where they are, so
   * successive sweeps walk the whole map (a head of long-lived entries never hides the expired ones behind it). Four
   * entries looked at per operation, at most one added: memory follows live entries.
   */
  #sweep(): void {
    if ((++this.#ops & 63) !== 0) return;
    const now = this.#now();
    this.#onceSweep.sweep((until) => until <= now);
    this.#revokedSweep.sweep((until) => until <= now);
    this.#windowsSweep.sweep((w) => w.resetAt <= now);
  }
}

/**
 * A sweep cursor over a map: a live iterator of the map (a Map iterator stays valid while entries are added and
 * deleted: it visits entries added after it was made and skips deleted ones), so a sweep costs one step per entry
 * looked at and one delete per expired entry, never a re-insertion of the live ones. (Held between sweeps, it keeps a
 * table the map has outgrown alive until its next step: at most until the next sweep.)
 */
class MapSweep<V> {
  #it: MapIterator<[string, V]> | undefined;

  constructor(private readonly map: Map<string, V>) {}

  /** Looks at up to `budget` entries (never more than the map holds), dropping the expired ones. */
  sweep(expired: (v: V) => boolean, budget = 256): void {
    const map = this.map;
    for (let n = Math.min(budget, map.size); n > 0; n--) {
      let r = this.#it?.next();
      if (r === undefined || r.done === true) {
        this.#it = map.entries(); // the youngest passed: on from the oldest
        r = this.#it.next();
      }
      if (r.done !== true && expired(r.value[1])) map.delete(r.value[0]);
    }
  }
}
