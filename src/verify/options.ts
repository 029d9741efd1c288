import type { Store } from '../store/types.js';
import type { ServiceDecisionSink } from './decision.js';

/** Algorithms a Txn-Token may be signed with (asymmetric only; HMAC and `none` are refused at construction). */
export const DEFAULT_ALGORITHMS: readonly string[] = ['EdDSA', 'ES256'];
const ASYMMETRIC = new Set(['EdDSA', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512']);

/** Default byte bound of the verified-token cache: fits a 128 MB Workers isolate with room for everything else. */
export const DEFAULT_CACHE_MAX_BYTES = 16 * 1024 * 1024;

export interface VerifierOptions {
  /** the trust domain(s) this service accepts as `aud` (V-04) */
  trustDomain: string | readonly string[];
  /** when set, `iss` must equal it (V-07) */
  issuer?: string | undefined;
  /** the TTS public keys inline ... */
  jwks?: { keys: readonly object[] } | undefined;
  /** ... or its JWKS URL: fetched once, cached, refetched on an unknown `kid` at most once per cool-down (V-02) */
  jwksUri?: string | undefined;
  /** default EdDSA and ES256; only asymmetric algorithms are accepted */
  algorithms?: readonly string[] | undefined;
  /** seconds of tolerated clock skew; default 30, at most 60 (V-05) */
  clockTolerance?: number | undefined;
  /** revocation (V-08) and the replay guard (V-09) go through it */
  store?: Store | undefined;
  /** when the store cannot answer a revocation check: refuse (`unavailable`, default) or accept with a warning */
  revocation?: 'fail-closed' | 'fail-open' | undefined;
  /** V-09: a `txn` already seen by this service (namespace) is refused until its `exp`. Needs `store`. */
  replayGuard?: { namespace: string } | undefined;
  /**
   * One entry per refusal here and per `authorize` decision on contexts of this verifier. Default: one JSON line on
   * stdout (baton/log's non-blocking stdout sink); `null` turns the log off.
   */
  onDecision?: ServiceDecisionSink | null | undefined;
  /** this hop's name in decision entries (default `service`) */
  service?: string | undefined;
  /** verified tokens kept (by token, until `exp`) so that a token used for many calls is verified once; 0 disables. Default 10 000. */
  cacheSize?: number | undefined;
  /**
   * ... and at most this many bytes of them (estimated heap: `entryBytes`), whichever bound is reached first; the
   * least recently used go first. Default 16 MiB (fits a 128 MB Workers isolate); 0 disables the cache.
   */
  cacheMaxBytes?: number | undefined;
  /** minimum time between JWKS fetches caused by an unknown `kid` (default 30 s) */
  jwksCooldownMs?: number | undefined;
  /** the JWKS is refreshed (in the background) once it is this old (default 10 min) */
  jwksCacheMaxAgeMs?: number | undefined;
  /**
   * while JWKS refreshes fail, the last good key set keeps verifying for this long past `jwksCacheMaxAgeMs`; then every
   * token is refused `unavailable` until a fetch succeeds (default 1 h). Failed fetches back off (1 s doubling to 60 s).
   */
  jwksMaxStaleMs?: number | undefined;
  /** a JWKS response larger than this is refused, unread past it (default 64 KiB) */
  jwksMaxBytes?: number | undefined;
  /** a JWKS with more keys than this is refused (default 50) */
  jwksMaxKeys?: number | undefined;
  /** the fetch for the JWKS (e.g. a Workers service binding to the TTS); default the global fetch */
  jwksFetch?: ((input: URL, init: RequestInit) => Promise<Response>) | undefined;
  /** the clock in ms (tests, benchmarks); default Date.now */
  now?: (() => number) | undefined;
  /** where the fail-open warning goes (default console.warn); one line, never a token */
  warn?: ((line: string) => void) | undefined;
}

/** The options checked once, at construction, with their defaults applied. */
export interface VerifierSettings {
  readonly audiences: readonly string[];
  readonly issuer: string | undefined;
  readonly algorithms: readonly string[];
  /** seconds */
  readonly clockSkew: number;
  readonly now: () => number;
  /** whether `now` was given (then the profile is given the same clock) */
  readonly fixedClock: boolean;
  readonly cacheEntries: number;
  readonly cacheBytes: number;
}

/** Refuses at construction what would weaken every check later (TypeError naming the option). */
export function verifierSettings(o: VerifierOptions): VerifierSettings {
  const audiences = typeof o.trustDomain === 'string' ? [o.trustDomain] : [...o.trustDomain];
  if (audiences.length === 0 || audiences.some((a) => typeof a !== 'string' || a.length === 0))
    throw new TypeError('createVerifier: trustDomain is required');
  if ((o.jwks === undefined) === (o.jwksUri === undefined)) throw new TypeError('createVerifier: give exactly one of jwks or jwksUri');
  const algorithms = [...(o.algorithms ?? DEFAULT_ALGORITHMS)];
  if (algorithms.length === 0 || algorithms.some((a) => !ASYMMETRIC.has(a)))
    throw new TypeError('createVerifier: algorithms must be asymmetric JWS algorithms (never HS* or none)');
  const clockSkew = o.clockTolerance ?? 30;
  if (!Number.isFinite(clockSkew) || clockSkew < 0 || clockSkew > 60) throw new TypeError('createVerifier: clockTolerance must be 0..60 seconds');
  if (o.replayGuard !== undefined && o.store === undefined) throw new TypeError('createVerifier: replayGuard needs a store');
  if (o.replayGuard !== undefined && (typeof o.replayGuard.namespace !== 'string' || o.replayGuard.namespace.length === 0))
    throw new TypeError('createVerifier: replayGuard.namespace is required');
  return {
    audiences,
    issuer: o.issuer,
    algorithms,
    clockSkew,
    now: o.now ?? Date.now,
    fixedClock: o.now !== undefined,
    cacheEntries: Math.max(0, Math.floor(o.cacheSize ?? 10_000)),
    cacheBytes: Math.max(0, Math.floor(o.cacheMaxBytes ?? DEFAULT_CACHE_MAX_BYTES)),
  };
}
