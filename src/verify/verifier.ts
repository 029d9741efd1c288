import { MAX_TXN_TOKEN_CHARS } from '../jose/json-bounds.js';
import { keySource } from '../jose/key-source.js';
import { renderDecisionLine, scrub, toJsonLine } from '../log/index.js';
import { JwtProfileError, verifyTxnToken } from '../jose/profiles.js';
import { parseScope, txnPrincipal, workloadsOf, type TxnPrincipal, type TxnTokenClaims } from '../txn/index.js';
import { RevocationCache } from '../store/revocation-cache.js';
import { StoreUnavailableError, type Store } from '../store/types.js';
import { TxnTokenError, type TxnTokenErrorCode } from './errors.js';

/** Algorithms a Txn-Token may be signed with (asymmetric only; HMAC and `none` are refused at construction). */
export const DEFAULT_ALGORITHMS: readonly string[] = ['EdDSA', 'ES256'];
const ASYMMETRIC = new Set(['EdDSA', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512']);
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** One structured line per decision at a receiving service; never a raw token (V-11). */
export interface ServiceDecisionEntry {
  time: string;
  /** the service's name (`service` option) */
  hop: string;
  event: 'verify' | 'authorize' | 'plan';
  /** `conditional` for a plan that allows the resources matching a filter */
  effect: 'allow' | 'deny' | 'conditional';
  txn?: string | undefined;
  sub?: string | undefined;
  /** the current actor (`req_wl`) */
  workload?: string | undefined;
  /** outermost first, the current actor included */
  chain?: string[] | undefined;
  action?: string | undefined;
  resource?: { kind: string; id?: string | undefined } | undefined;
  /** the scope the action needs, when one was required */
  scope?: string | undefined;
  /** the deciding policy (`scope` when the token's scope did not cover the action) */
  policy?: string | undefined;
  /** a TxnTokenError code for refused tokens */
  error?: string | undefined;
  reason?: string | undefined;
  /** `planFor`: the plan's kind, its filter (Cerbos's filterDebug) and the rules behind it */
  plan?: { kind: string; filter: string; rules: string[] } | undefined;
}
export type ServiceDecisionSink = (entry: ServiceDecisionEntry) => void;

/** The default decision log: one line per decision on stdout, rendered as baton/log renders every hop's lines. */
export const stdoutDecisionSink: ServiceDecisionSink = (entry) => console.log(renderDecisionLine(entry));

/** The principal a receiving service hands to the policy engine (V-12, T-24): see `txnPrincipal` (src/txn/principal.ts). */
export type { TxnPrincipal };

/** A verified Txn-Token. Frozen: one instance may be shared by every request that presents the same token. */
export interface TxnContext {
  /** the exact header value received, for propagation (V-10); never log it */
  readonly token: string;
  readonly txn: string;
  readonly sub: string;
  readonly scope: ReadonlySet<string>;
  /** the current requesting workload (`req_wl`) */
  readonly actor: string;
  /** every workload of the request, outermost (current actor) first: [actor, earlier hops...] */
  readonly chain: readonly string[];
  readonly tctx: Readonly<Record<string, unknown>>;
  readonly rctx: Readonly<Record<string, unknown>>;
  /** seconds since the epoch */
  readonly exp: number;
  readonly iat: number;
  readonly claims: Readonly<TxnTokenClaims>;
  readonly principal: TxnPrincipal;
}

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
   * stdout (`console.log`); `null` turns the log off.
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

export interface Verifier {
  /** Verifies the value of the `Txn-Token` header (V-01..V-09). Throws `TxnTokenError`. */
  verify(headerValue: string | null | undefined): Promise<TxnContext>;
  /** What the verified-token cache holds now: entries and their estimated bytes (`entryBytes`). */
  cacheStats(): { entries: number; bytes: number };
  close(): Promise<void>;
}

interface ContextMeta {
  sink: ServiceDecisionSink | undefined;
  service: string;
  now: () => number;
}
const contextMeta = new WeakMap<object, ContextMeta>();

/** @internal the decision sink and hop name of the verifier that made `txn` (for `authorize`). */
export function metaOf(txn: TxnContext): ContextMeta | undefined {
  return contextMeta.get(txn);
}

/** Emits the entry scrubbed and bounded (baton/log's `scrub`), without ever letting a failing sink change a decision. */
export function emitDecision(sink: ServiceDecisionSink | undefined, entry: ServiceDecisionEntry): void {
  if (sink === undefined) return;
  try {
    sink(scrub(entry) as ServiceDecisionEntry);
  } catch {
    /* a failing log sink never changes a decision */
  }
}

const sealedSets = new WeakSet<object>();
/** A Set that cannot be changed once built (Object.freeze does not stop Set.add). */
class SealedSet<T> extends Set<T> {
  constructor(items: Iterable<T>) {
    super(items);
    sealedSets.add(this);
    Object.freeze(this);
  }
  override add(v: T): this {
    if (sealedSets.has(this)) throw new TypeError('TxnContext.scope is read-only');
    return super.add(v);
  }
  override delete(_v: T): boolean {
    throw new TypeError('TxnContext.scope is read-only');
  }
  override clear(): void {
    throw new TypeError('TxnContext.scope is read-only');
  }
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const k of Object.keys(v as object)) deepFreeze((v as Record<string, unknown>)[k]);
  }
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * V-01: the value of the one `Txn-Token` header: exactly one compact JWS, no scheme prefix. Two headers arrive
 * comma-joined (fetch `Headers`, Node): `multiple`.
 */
export function parseTxnTokenHeader(value: string | null | undefined): string {
  if (value === null || value === undefined) throw new TxnTokenError('missing', 'the Txn-Token header is required');
  if (typeof value !== 'string') throw new TxnTokenError('malformed', 'the Txn-Token header must be a string');
  const v = value.trim();
  if (v.length === 0) throw new TxnTokenError('missing', 'the Txn-Token header is empty');
  if (v.includes(',')) throw new TxnTokenError('multiple', 'exactly one Txn-Token is allowed');
  if (/^bearer\s/i.test(v)) throw new TxnTokenError('malformed', 'the Txn-Token header carries the token alone, without a Bearer prefix');
  if (/\s/.test(v)) throw new TxnTokenError('malformed', 'the Txn-Token header must hold exactly one token');
  if (v.length > MAX_TXN_TOKEN_CHARS) throw new TxnTokenError('malformed', 'the Txn-Token is too large');
  if (!COMPACT_JWS.test(v)) throw new TxnTokenError('malformed', 'the Txn-Token is not a compact JWS');
  return v;
}

function mapProfileError(e: unknown): TxnTokenError {
  if (e instanceof TxnTokenError) return e;
  if (e instanceof JwtProfileError) {
    const code: TxnTokenErrorCode =
      e.code === 'key_unavailable' ? 'unavailable' : e.code === 'invalid_claim' ? 'malformed' : e.code;
    return new TxnTokenError(code, e.message, { cause: e });
  }
  return new TxnTokenError('malformed', 'malformed Txn-Token', { cause: e });
}

interface CacheEntry {
  token: string;
  ctx: TxnContext;
  untilMs: number;
  /** estimated heap bytes of the entry (`entryBytes`) */
  bytes: number;
}

/** Default byte bound of the verified-token cache: fits a 128 MB Workers isolate with room for everything else. */
export const DEFAULT_CACHE_MAX_BYTES = 16 * 1024 * 1024;

/**
 * Estimated heap bytes held by one cached verification (issue 10 finding 8): the token string, the parsed and frozen
 * claims, the context around them. Estimated from the claims' structure, not from the token's length, since the same
 * 16 KB token costs 13 KB of heap as one long string and 236 KB as an array of empty objects (measured on Node 20):
 * strings count their characters, numbers outside the small-integer range a boxed double, every array slot a pointer,
 * every object a frozen dictionary (header plus three words per member). Calibrated against the real heap in
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

/** Builds the frozen context from verified claims. */
function buildContext(token: string, claims: TxnTokenClaims): TxnContext {
  deepFreeze(claims);
  // verifyTxnToken has checked that the outermost `act.sub` is the current requesting workload (T-22)
  const chain = workloadsOf(claims);
  const tctx = isObject(claims.tctx) ? claims.tctx : {};
  const rctx = isObject(claims.rctx) ? claims.rctx : {};
  const principal: TxnPrincipal = deepFreeze(txnPrincipal(claims));
  return Object.freeze({
    token,
    txn: claims.txn,
    sub: claims.sub,
    scope: new SealedSet(parseScope(claims.scope)),
    actor: claims.req_wl,
    chain: Object.freeze(chain),
    tctx,
    rctx,
    exp: claims.exp,
    iat: claims.iat,
    claims,
    principal,
  });
}

/** Creates the verifier a receiving service uses for every request (V-01..V-09). */
export function createVerifier(o: VerifierOptions): Verifier {
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

  const now = o.now ?? Date.now;
  const fixedClock = o.now !== undefined;
  const warn = o.warn ?? ((line: string) => console.warn(line));
  const service = o.service ?? 'service';
  const sink = o.onDecision === undefined ? stdoutDecisionSink : (o.onDecision ?? undefined);
  const meta: ContextMeta = { sink, service, now };
  const failOpen = o.revocation === 'fail-open';
  const store = o.store;
  const revocations = store === undefined ? undefined : new RevocationCache(store, { now });
  const replayNs = o.replayGuard === undefined ? undefined : `replay:${o.replayGuard.namespace}`;
  const maxEntries = Math.max(0, Math.floor(o.cacheSize ?? 10_000));
  const maxBytes = Math.max(0, Math.floor(o.cacheMaxBytes ?? DEFAULT_CACHE_MAX_BYTES));
  let cacheBytes = 0;

  // A key set that cannot be had is an outage (503 `unavailable`), not a bad token: the remote key set reports it as
  // key_unavailable, and only "no key for this kid/alg" is the token's fault (issue 10 finding 7: bounded, resilient).
  const getKey = keySource(
    { jwks: o.jwks, jwksUri: o.jwksUri },
    {
      cooldownMs: o.jwksCooldownMs,
      cacheMaxAgeMs: o.jwksCacheMaxAgeMs,
      maxStaleMs: o.jwksMaxStaleMs,
      maxBytes: o.jwksMaxBytes,
      maxKeys: o.jwksMaxKeys,
      fetch: o.jwksFetch,
      now,
    },
  );

  /** verified tokens by signature segment; the full token is compared on a hit (a copied signature never hits) */
  const cache = new Map<string, CacheEntry>();
  const inflight = new Map<string, Promise<TxnContext>>();
  let closed = false;

  function cacheDelete(sig: string, e: CacheEntry): void {
    cache.delete(sig);
    cacheBytes -= e.bytes;
  }

  function cacheGet(token: string, sig: string, nowMs: number): TxnContext | undefined {
    const e = cache.get(sig);
    if (e === undefined || e.token !== token) return undefined;
    if (e.untilMs <= nowMs) {
      cacheDelete(sig, e);
      return undefined;
    }
    // LRU-ish: a hit moves the entry to the young end.
    cache.delete(sig);
    cache.set(sig, e);
    return e.ctx;
  }

  function cachePut(sig: string, entry: CacheEntry): void {
    if (maxEntries === 0 || entry.bytes > maxBytes) return;
    const prev = cache.get(sig);
    if (prev !== undefined) cacheDelete(sig, prev);
    if (cache.size >= maxEntries || cacheBytes + entry.bytes > maxBytes) {
      const nowMs = now();
      let budget = 64;
      for (const [k, v] of cache) {
        if (budget-- <= 0) break;
        if (v.untilMs <= nowMs) cacheDelete(k, v);
      }
      while (cache.size >= maxEntries || cacheBytes + entry.bytes > maxBytes) {
        const oldest = cache.entries().next();
        if (oldest.done) break;
        cacheDelete(oldest.value[0], oldest.value[1]);
      }
    }
    cache.set(sig, entry);
    cacheBytes += entry.bytes;
  }

  async function verifyFresh(token: string): Promise<TxnContext> {
    let claims: TxnTokenClaims;
    try {
      ({ claims } = await verifyTxnToken(token, {
        getKey,
        algorithms,
        clockSkew,
        audiences,
        issuer: o.issuer,
        ...(fixedClock ? { currentDate: new Date(now()) } : {}),
      }));
    } catch (e) {
      throw mapProfileError(e);
    }
    const ctx = buildContext(token, claims);
    contextMeta.set(ctx, meta);
    return ctx;
  }

  async function checkRevocation(ctx: TxnContext): Promise<void> {
    if (revocations === undefined || store === undefined) return;
    let revoked: boolean;
    const local = revocations.isRevokedLocal(ctx.txn);
    if (local !== undefined) revoked = local;
    else {
      try {
        revoked = await store.isRevoked(ctx.txn);
      } catch (e) {
        if (failOpen && e instanceof StoreUnavailableError) {
          warn(`baton verify [${service}]: revocation store unavailable; accepting txn ${toJsonLine(scrub(ctx.txn))} unchecked (revocation: fail-open)`);
          return;
        }
        throw new TxnTokenError('unavailable', 'the revocation check is unavailable; retry later', { cause: e });
      }
    }
    if (revoked) throw new TxnTokenError('revoked', 'the transaction is revoked');
  }

  async function checkReplay(ctx: TxnContext, nowMs: number): Promise<void> {
    if (replayNs === undefined || store === undefined) return;
    let first: boolean;
    try {
      first = await store.useOnce(replayNs, ctx.txn, Math.max(1, (ctx.exp + clockSkew) * 1000 - nowMs));
    } catch (e) {
      throw new TxnTokenError('unavailable', 'the replay check is unavailable; retry later', { cause: e });
    }
    if (!first) throw new TxnTokenError('replayed', 'this transaction was already presented to this service');
  }

  async function verify(headerValue: string | null | undefined): Promise<TxnContext> {
    let ctx: TxnContext | undefined;
    try {
      if (closed) throw new TxnTokenError('unavailable', 'the verifier is closed');
      const token = parseTxnTokenHeader(headerValue);
      const sig = token.slice(token.lastIndexOf('.') + 1);
      const nowMs = now();
      ctx = cacheGet(token, sig, nowMs);
      if (ctx === undefined) {
        let p = inflight.get(token);
        if (p === undefined) {
          p = verifyFresh(token);
          inflight.set(token, p);
          p.then(
            (c) => {
              inflight.delete(token);
              cachePut(sig, { token, ctx: c, untilMs: c.exp * 1000, bytes: entryBytes(token, c.claims) });
            },
            () => inflight.delete(token),
          );
        }
        ctx = await p;
      }
      await checkRevocation(ctx);
      await checkReplay(ctx, nowMs);
      return ctx;
    } catch (e) {
      const err = e instanceof TxnTokenError ? e : new TxnTokenError('unavailable', 'verification failed unexpectedly', { cause: e });
      if (sink !== undefined)
        emitDecision(sink, {
          time: new Date(now()).toISOString(),
          hop: service,
          event: 'verify',
          effect: 'deny',
          ...(ctx !== undefined ? { txn: ctx.txn, sub: ctx.sub, workload: ctx.actor, chain: [...ctx.chain] } : {}),
          error: err.code,
          reason: err.message,
        });
      throw err;
    }
  }

  return {
    verify,
    cacheStats: () => ({ entries: cache.size, bytes: cacheBytes }),
    async close() {
      closed = true;
      cache.clear();
      cacheBytes = 0;
      inflight.clear();
      revocations?.close();
    },
  };
}
