import type { DecisionLog } from '../log/index.js';
import { txnPrincipal, workloadsOf, type TxnPrincipal, type TxnTokenClaims } from '../txn/index.js';
import type { ServiceDecisionEntry } from './decision.js';

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
  /** the principal the policy engine sees (V-12, T-24): `txnPrincipal`, src/txn/principal.ts */
  readonly principal: TxnPrincipal;
  /** the decision log of the verifier that verified it: where `authorize` writes its decisions on this context */
  readonly log: DecisionLog<ServiceDecisionEntry>;
}

/** The scopes of a token (`parseScope`'s reading: each once, empty ones skipped), as a Set that cannot be changed once built (Object.freeze does not stop Set.add). */
class ScopeSet extends Set<string> {
  constructor(scope: string) {
    super(); // no iterable (that would call this.add): filled below with Set's own add
    for (const s of scope.split(' ')) if (s.length > 0) super.add(s);
    Object.freeze(this);
  }
  override add(_v: string): this {
    throw new TypeError('TxnContext.scope is read-only');
  }
  override delete(_v: string): boolean {
    throw new TypeError('TxnContext.scope is read-only');
  }
  override clear(): void {
    throw new TypeError('TxnContext.scope is read-only');
  }
}

/**
 * The scope sets of scope strings seen before: a ScopeSet cannot be changed once built, so one instance serves every
 * token with the same `scope` text (a service meets a handful), as one cached context already serves every request with
 * the same token. Building one costs ~2 µs of a fresh verification (a subclass of Set, frozen); a lookup ~0.05 µs.
 * At most 256 strings of at most 1,024 characters, the whole memo dropped when full (distinct scopes then cost what
 * they cost before).
 */
const scopeSets = new Map<string, ScopeSet>();

function scopeSetOf(scope: string): ScopeSet {
  const known = scopeSets.get(scope);
  if (known !== undefined) return known;
  const set = new ScopeSet(scope);
  if (scope.length <= 1024) {
    if (scopeSets.size >= 256) scopeSets.clear();
    scopeSets.set(scope, set);
  }
  return set;
}

/** Freezes `v` and everything under it not frozen yet (the claims' members are already: the profile froze them). */
function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    // by index and by key: no array of keys for an array (the principal's roles and chain)
    if (Array.isArray(v)) for (let i = 0; i < v.length; i++) deepFreeze(v[i]);
    else {
      const keys = Object.keys(v);
      for (let i = 0; i < keys.length; i++) deepFreeze((v as Record<string, unknown>)[keys[i]!]);
    }
  }
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** `tctx`/`rctx` of a token that has none: frozen, since the context is cached and shared by every request with the token. */
const NO_CONTEXT: Readonly<Record<string, unknown>> = Object.freeze({});

/** Builds the frozen context from verified claims (verifyTxnToken has checked that the outermost `act.sub` is `req_wl`, T-22). */
export function buildContext(token: string, claims: TxnTokenClaims, log: DecisionLog<ServiceDecisionEntry>): TxnContext {
  deepFreeze(claims);
  return Object.freeze({
    token,
    txn: claims.txn,
    sub: claims.sub,
    scope: scopeSetOf(claims.scope),
    actor: claims.req_wl,
    chain: Object.freeze(workloadsOf(claims)),
    tctx: isObject(claims.tctx) ? claims.tctx : NO_CONTEXT,
    rctx: isObject(claims.rctx) ? claims.rctx : NO_CONTEXT,
    exp: claims.exp,
    iat: claims.iat,
    claims,
    principal: deepFreeze(txnPrincipal(claims)),
    log,
  });
}
