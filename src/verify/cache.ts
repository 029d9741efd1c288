import type { TxnContext } from './context.js';

/**
 * The verified-token cache (issue 10 finding 8): contexts by token until their `exp`, bounded in entries and in
 * estimated heap bytes, least recently used first out. Keyed by the signature segment; a hit compares the whole token,
 * so a payload tampered under a copied signature never hits.
 */
interface CacheEntry {
  token: string;
  ctx: TxnContext;
  untilMs: number;
  /** estimated heap bytes of the entry (`entryBytes`) */
  bytes: number;
}

/**
 * Estimated heap bytes held by one cached verification: the token string, the parsed and frozen claims, the context
 * around them. Estimated from the claims' structure, not from the token's length, since the same 16 KB token costs
 * 13 KB of heap as one long string and 236 KB as an array of empty objects (measured on Node 20): strings count their
 * characters, numbers outside the small-integer range a boxed double, every array slot a pointer, every object a
 * frozen dictionary (header plus three words per member). Calibrated against the real heap in
 * test/verify/cache-memory.test.ts, where the estimate is checked to be at least the measured heap.
 */
export function entryBytes(token: string, claims: unknown): number {
  let bytes = 1024 + token.length; // the context, principal, scope set, chain; the token itself
  const stack: unknown[] = [claims];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') bytes += 16 + (/[^\u0000-\u00ff]/.test(v) ? 2 * v.length : v.length);
    else if (typeof v === 'number') bytes += Number.isInteger(v) && Math.abs(v) < 2 ** 30 ? 0 : 16;
    else if (Array.isArray(v)) {
      bytes += 56 + 8 * v.length;
      for (const x of v) stack.push(x);
    } else if (v !== null && typeof v === 'object') {
      const keys = Object.keys(v);
      bytes += 56 + 32 * keys.length;
      for (const k of keys) {
        bytes += 16 + k.length;
        stack.push((v as Record<string, unknown>)[k]);
      }
    }
  }
  return bytes;
}

export class TokenCache {
  readonly #entries = new Map<string, CacheEntry>();
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #now: () => number;
  #bytes = 0;

  constructor(o: { maxEntries: number; maxBytes: number; now: () => number }) {
    this.#maxEntries = o.maxEntries;
    this.#maxBytes = o.maxBytes;
    this.#now = o.now;
  }

  #delete(sig: string, e: CacheEntry): void {
    this.#entries.delete(sig);
    this.#bytes -= e.bytes;
  }

  get(token: string, sig: string, nowMs: number): TxnContext | undefined {
    const e = this.#entries.get(sig);
    if (e === undefined || e.token !== token) return undefined;
    if (e.untilMs <= nowMs) {
      this.#delete(sig, e);
      return undefined;
    }
    // LRU-ish: a hit moves the entry to the young end.
    this.#entries.delete(sig);
    this.#entries.set(sig, e);
    return e.ctx;
  }

  /** Keeps a verified context until its `exp`, making room by dropping expired entries, then the least recently used. */
  put(sig: string, token: string, ctx: TxnContext): void {
    if (this.#maxEntries === 0 || this.#maxBytes === 0) return; // the cache is off: nothing to estimate
    const entry: CacheEntry = { token, ctx, untilMs: ctx.exp * 1000, bytes: entryBytes(token, ctx.claims) };
    if (entry.bytes > this.#maxBytes) return; // one entry larger than the whole cache is not kept
    const prev = this.#entries.get(sig);
    if (prev !== undefined) this.#delete(sig, prev);
    if (this.#full(entry.bytes)) this.#makeRoom(entry.bytes);
    this.#entries.set(sig, entry);
    this.#bytes += entry.bytes;
  }

  #full(adding: number): boolean {
    return this.#entries.size >= this.#maxEntries || this.#bytes + adding > this.#maxBytes;
  }

  #makeRoom(adding: number): void {
    const nowMs = this.#now();
    let budget = 64;
    for (const [k, v] of this.#entries) {
      if (budget-- <= 0) break;
      if (v.untilMs <= nowMs) this.#delete(k, v);
    }
    while (this.#full(adding)) {
      const oldest = this.#entries.entries().next();
      if (oldest.done) break;
      this.#delete(oldest.value[0], oldest.value[1]);
    }
  }

  stats(): { entries: number; bytes: number } {
    return { entries: this.#entries.size, bytes: this.#bytes };
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }
}

/** Concurrent verifications of one token share one promise (dropped once settled). */
export class InFlight<T> {
  readonly #pending = new Map<string, Promise<T>>();

  /** The verification of `key` in flight, if there is one. */
  get(key: string): Promise<T> | undefined {
    return this.#pending.get(key);
  }

  share(key: string, start: () => Promise<T>, settled: (value: T) => void): Promise<T> {
    let p = this.#pending.get(key);
    if (p === undefined) {
      p = start();
      this.#pending.set(key, p);
      p.then(
        (v) => {
          this.#pending.delete(key);
          settled(v);
        },
        () => this.#pending.delete(key),
      );
    }
    return p;
  }

  clear(): void {
    this.#pending.clear();
  }
}
