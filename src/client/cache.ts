/**
 * The client's token cache: results by (subject hash, subject type, scopes, details hash) until shortly before `exp`,
 * at most `maxEntries` (expired ones dropped first, then the oldest). The subject token is never a key: its SHA-256 is.
 */

/** Deterministic JSON (sorted keys) for cache keys. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}

async function sha256(s: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(s)));
  let out = '';
  for (const b of d) out += b.toString(16).padStart(2, '0');
  return out;
}

/** The cache key of a request, built from exactly what is sent (`sent`: details and context as JSON). */
export async function cacheKey(subjectToken: string, subjectTokenType: string, requested: readonly string[], sent: unknown): Promise<string> {
  return [await sha256(subjectToken), subjectTokenType, [...requested].sort().join(' '), await sha256(canonical(sent))].join('\u0000');
}

interface CacheEntry<R> {
  result: R;
  /** reuse until (seconds) */
  until: number;
}

/** Results that say whether they were served from the cache. */
export class ResultCache<R extends { readonly cached: boolean }> {
  readonly #entries = new Map<string, CacheEntry<R>>();
  readonly #maxEntries: number;

  constructor(maxEntries: number) {
    this.#maxEntries = maxEntries;
  }

  get(key: string, nowSec: number): R | undefined {
    const hit = this.#entries.get(key);
    if (hit === undefined) return undefined;
    // `__proto__` first: V8's slow path for a spread followed by new members (same object, same prototype)
    if (hit.until > nowSec) return { __proto__: Object.prototype, ...hit.result, cached: true };
    this.#entries.delete(key);
    return undefined;
  }

  put(key: string, result: R, until: number, nowSec: number): void {
    if (until <= nowSec) return;
    if (this.#entries.size >= this.#maxEntries) {
      for (const [k, v] of this.#entries) if (v.until <= nowSec) this.#entries.delete(k);
      while (this.#entries.size >= this.#maxEntries) {
        const oldest = this.#entries.keys().next();
        if (oldest.done === true) break;
        this.#entries.delete(oldest.value);
      }
    }
    this.#entries.set(key, { result, until });
  }

  clear(): void {
    this.#entries.clear();
  }
}
