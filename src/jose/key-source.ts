import { createLocalJWKSet, errors, type CompactJWSHeaderParameters, type FlattenedJWSInput, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { readCapped } from './json-bounds.js';
import { JwtProfileError } from './profiles.js';

export interface KeySourceConfig {
  jwks?: { keys: readonly object[] } | undefined;
  jwksUri?: string | undefined;
}

export interface RemoteJwksOptions {
  /** minimum time between two fetches triggered by an unknown `kid` (V-02 cool-down). Default 30 s */
  cooldownMs?: number | undefined;
  /** a fetched key set is refreshed (in the background) once it is this old. Default 10 min */
  cacheMaxAgeMs?: number | undefined;
  /** one fetch, body included. Default 3 s */
  timeoutMs?: number | undefined;
  /**
   * While refreshes fail, the last good key set keeps verifying for this long past `cacheMaxAgeMs`; after that every
   * token is refused as `key_unavailable` until a fetch succeeds (fail closed). Default 1 h.
   */
  maxStaleMs?: number | undefined;
  /** a JWKS response larger than this is refused unread past it. Default 64 KiB */
  maxBytes?: number | undefined;
  /** a JWKS with more keys than this is refused. Default 50 */
  maxKeys?: number | undefined;
  /** clock in ms (tests). Default Date.now */
  now?: (() => number) | undefined;
  /** the fetch to use (a Workers service binding's, a proxy's). Default the global fetch */
  fetch?: ((input: URL, init: RequestInit) => Promise<Response>) | undefined;
}

export const JWKS_DEFAULTS = {
  cooldownMs: 30_000,
  cacheMaxAgeMs: 600_000,
  timeoutMs: 3_000,
  maxStaleMs: 3_600_000,
  maxBytes: 64 * 1024,
  maxKeys: 50,
} as const;

/** After a failed fetch, the next one waits 1 s, then 2, 4, ... at most this long (and never less than 1 s). */
const BACKOFF_MIN_MS = 1_000;
const BACKOFF_MAX_MS = 60_000;

/**
 * A key getter for jose: an inline JWKS, or a remote one (`remoteKeySet`). Headers `jku`, `x5u`, `jwk` of the token
 * are never used to find a key.
 */
export function keySource(cfg: KeySourceConfig, opts: RemoteJwksOptions = {}): JWTVerifyGetKey {
  if (cfg.jwks !== undefined) return localKeySet(cfg.jwks as JSONWebKeySet);
  if (cfg.jwksUri !== undefined) return remoteKeySet(new URL(cfg.jwksUri), opts);
  throw new Error('a key source needs jwks or jwksUri');
}

type GetKeyResult = Awaited<ReturnType<JWTVerifyGetKey>>;

/**
 * jose's local key set (`createLocalJWKSet`: selection by `alg` and `kid` over a snapshot of the set), with the key it
 * selected for an (`alg`, `kid`) pair remembered and handed back synchronously the next time: the set never changes, so
 * neither does the answer, and a token's check skips jose's asynchronous selection (a filter of the set, an awaited
 * import cache). Only selections that succeeded are remembered, so the memo holds at most one entry per key and
 * algorithm, whatever `kid` values tokens carry; refusals (no key, several keys) go through jose every time.
 */
export function localKeySet(jwks: JSONWebKeySet): LocalKeySet {
  const select = createLocalJWKSet(jwks);
  const memo = new Map<string, Map<string | undefined, GetKeyResult>>();
  // an unprotected header (never in a compact JWS) takes part in jose's selection: such a call is not remembered
  const memoizable = (alg: unknown, kid: unknown, input: unknown): alg is string =>
    typeof alg === 'string' && (kid === undefined || typeof kid === 'string') && (input as { header?: unknown } | undefined)?.header === undefined;
  const cached = (header: CompactJWSHeaderParameters, input: FlattenedJWSInput): GetKeyResult | undefined =>
    memoizable(header.alg, header.kid, input) ? memo.get(header.alg)?.get(header.kid) : undefined;
  const getKey = (header: CompactJWSHeaderParameters, input: FlattenedJWSInput): GetKeyResult | Promise<GetKeyResult> => {
    const hit = cached(header, input);
    if (hit !== undefined) return hit;
    const { alg, kid } = header;
    return select(header, input).then((key) => {
      if (memoizable(alg, kid, input)) {
        let byKid = memo.get(alg);
        if (byKid === undefined) memo.set(alg, (byKid = new Map()));
        byKid.set(kid, key);
      }
      return key;
    });
  };
  return Object.assign(getKey, { cached });
}

/** A local key set (`localKeySet`): a key getter, and the keys it selected before, synchronously. */
export type LocalKeySet = JWTVerifyGetKey & {
  /** the key selected before for this header's (`alg`, `kid`), or undefined */
  cached(header: CompactJWSHeaderParameters, input: FlattenedJWSInput): GetKeyResult | undefined;
};

/** Reads at most `max` bytes of a response body; more is an error (the rest is never read). */
async function readCappedText(res: Response, max: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? 'NaN');
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel().catch(() => {});
    throw new Error(`the JWKS is larger than ${max} bytes`);
  }
  const bytes = await readCapped(res.body, max);
  if (bytes === undefined) throw new Error(`the JWKS is larger than ${max} bytes`);
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
}

type FetchFn = (input: URL, init: RequestInit) => Promise<Response>;

async function fetchKeySet(fetchFn: FetchFn, url: URL, timeoutMs: number, maxBytes: number, maxKeys: number): Promise<LocalKeySet> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  try {
    const res = await fetchFn(url, { signal: ctl.signal, headers: { accept: 'application/json, application/jwk-set+json' } });
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => {});
      throw new Error(`the JWKS endpoint answered ${res.status}`);
    }
    const text = await readCappedText(res, maxBytes);
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      throw new Error('the JWKS is not JSON');
    }
    const keys = v !== null && typeof v === 'object' ? (v as { keys?: unknown }).keys : undefined;
    if (!Array.isArray(keys)) throw new Error('the JWKS has no keys array');
    if (keys.length > maxKeys) throw new Error(`the JWKS has more than ${maxKeys} keys`);
    return localKeySet(v as JSONWebKeySet);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A remote JWKS, bounded and resilient (issue 10 finding 7):
 * - fetched once, then refreshed in the background when older than `cacheMaxAgeMs` (the request that notices uses
 *   the current set), and refetched on an unknown `kid` at most once per `cooldownMs` (V-02);
 * - a refresh that fails keeps the last good set serving for up to `maxStaleMs`, then every token is refused as
 *   `key_unavailable` (fail closed) until a fetch succeeds;
 * - after a failed fetch the next one waits (1 s, doubling up to 60 s): an endpoint that is down is not hammered,
 *   once per check;
 * - a response is read at most `maxBytes` far and may hold at most `maxKeys` keys; non-200, not JSON, too large, too
 *   many keys: a failed fetch.
 * Errors: `JwtProfileError('key_unavailable')` when no usable key set can be had now; jose's `JWKSNoMatchingKey` for
 * a `kid` the current set (fetched successfully, within the cool-down) does not have. Runs on Node and Workers.
 */
export function remoteKeySet(url: URL, o: RemoteJwksOptions = {}): JWTVerifyGetKey {
  const set = new RemoteKeySet(url, o);
  return (header, input) => set.getKey(header, input);
}

class RemoteKeySet {
  readonly #url: URL;
  readonly #o: { readonly [K in keyof typeof JWKS_DEFAULTS]: number };
  readonly #now: () => number;
  readonly #fetch: FetchFn;
  #current: { getKey: LocalKeySet; fetchedAt: number } | undefined;
  #lastAttempt = Number.NEGATIVE_INFINITY;
  #failures = 0;
  #notBefore = Number.NEGATIVE_INFINITY;
  #lastError = '';
  #inflight: Promise<void> | undefined;

  constructor(url: URL, o: RemoteJwksOptions) {
    this.#url = url;
    this.#o = {
      cooldownMs: o.cooldownMs ?? JWKS_DEFAULTS.cooldownMs,
      cacheMaxAgeMs: o.cacheMaxAgeMs ?? JWKS_DEFAULTS.cacheMaxAgeMs,
      timeoutMs: o.timeoutMs ?? JWKS_DEFAULTS.timeoutMs,
      maxStaleMs: o.maxStaleMs ?? JWKS_DEFAULTS.maxStaleMs,
      maxBytes: o.maxBytes ?? JWKS_DEFAULTS.maxBytes,
      maxKeys: o.maxKeys ?? JWKS_DEFAULTS.maxKeys,
    };
    const names: Record<string, string> = { cacheMaxAgeMs: 'maxAgeMs' };
    for (const [name, v] of Object.entries(this.#o))
      if (!Number.isFinite(v) || v < 0) throw new TypeError(`remote JWKS: ${names[name] ?? name} must be a finite number >= 0`);
    this.#now = o.now ?? Date.now;
    this.#fetch = o.fetch ?? ((input, init) => fetch(input, init));
  }

  /** One fetch at a time; a failure is recorded (backoff), never thrown: callers look at the current set. */
  #refresh(): Promise<void> {
    this.#inflight ??= (async () => {
      this.#lastAttempt = this.#now();
      const { timeoutMs, maxBytes, maxKeys } = this.#o;
      try {
        const getKey = await fetchKeySet(this.#fetch, this.#url, timeoutMs, maxBytes, maxKeys);
        this.#current = { getKey, fetchedAt: this.#now() };
        this.#failures = 0;
        this.#notBefore = Number.NEGATIVE_INFINITY;
      } catch (e) {
        this.#failures += 1;
        this.#notBefore = this.#now() + Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (this.#failures - 1));
        this.#lastError = e instanceof Error && e.name === 'AbortError' ? `no answer within ${timeoutMs} ms` : e instanceof Error ? e.message : 'fetch failed';
      } finally {
        this.#inflight = undefined;
      }
    })();
    return this.#inflight;
  }

  #unavailable(): JwtProfileError {
    const wait = Math.max(0, Math.ceil((this.#notBefore - this.#now()) / 1000));
    return new JwtProfileError('key_unavailable', `the key set cannot be fetched (${this.#lastError || 'not fetched yet'}); next attempt in ${wait} s`);
  }

  #mayFetch(): boolean {
    return this.#now() >= this.#notBefore;
  }

  #age(): number {
    return this.#current === undefined ? Number.POSITIVE_INFINITY : this.#now() - this.#current.fetchedAt;
  }

  /** The set to use now: fetched first when there is none usable, refreshed in the background when old. */
  async #usable(): Promise<JWTVerifyGetKey> {
    const bound = this.#o.cacheMaxAgeMs + this.#o.maxStaleMs;
    if (this.#age() > bound) {
      // nothing usable (never fetched, or stale beyond the bound): a fetch must succeed first
      if (this.#inflight !== undefined) await this.#inflight;
      else if (this.#mayFetch()) await this.#refresh();
      if (this.#current === undefined || this.#age() > bound) throw this.#unavailable();
    } else if (this.#age() > this.#o.cacheMaxAgeMs && this.#inflight === undefined && this.#mayFetch()) {
      void this.#refresh(); // stale but within the bound: serve it, refresh in the background
    }
    return this.#current!.getKey;
  }

  /**
   * The key for a token. While the current set is fresh (no refresh due), a key it selected before is answered
   * synchronously (`localKeySet`): what `#getKey` would answer, without its awaits.
   */
  getKey(header: CompactJWSHeaderParameters, input: FlattenedJWSInput): GetKeyResult | Promise<GetKeyResult> {
    if (this.#current !== undefined && this.#age() <= this.#o.cacheMaxAgeMs) {
      const key = this.#current.getKey.cached(header, input);
      if (key !== undefined) return key;
    }
    return this.#getKey(header, input);
  }

  async #getKey(header: CompactJWSHeaderParameters, input: FlattenedJWSInput): Promise<GetKeyResult> {
    const getKey = await this.#usable();
    try {
      return await getKey(header, input);
    } catch (e) {
      if (!(e instanceof errors.JWKSNoMatchingKey)) throw e;
      // an unknown kid: perhaps a new key. Refetch at most once per cool-down, never during a backoff.
      if (this.#inflight !== undefined) await this.#inflight;
      else if (this.#now() - this.#lastAttempt >= this.#o.cooldownMs && this.#mayFetch()) await this.#refresh();
      if (this.#failures > 0) throw this.#unavailable(); // the set could not be refreshed: this kid may be a key we cannot see
      return this.#current!.getKey(header, input);
    }
  }
}
