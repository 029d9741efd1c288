/**
 * The claims of a Txn-Token (T-16, T-22) and the identity chain they carry: one `act` parser with one depth limit, and
 * the chain read from it. Pure data: no signature, no I/O. `verifyTxnToken` (jose/profiles.ts) checks a token's claims
 * with `txnClaimsProblem`; the TTS builds `act` with `withActor`; the verifier, the client SDK and the CLI read the
 * chain with `actChain`.
 */

/** A JWT claims set as JSON: what a parsed payload is before anything is known of it. */
export type Claims = Readonly<Record<string, unknown>>;

/** RFC 8693 §4.1 `act`: the actor, and the actor before it nested inside. */
export interface ActClaim {
  sub: string;
  act?: ActClaim;
  [k: string]: unknown;
}

export interface TxnTokenClaims {
  iss?: string;
  txn: string;
  sub: string;
  scope: string;
  req_wl: string;
  iat: number;
  exp: number;
  aud: string | string[];
  nbf?: number;
  jti?: string;
  act?: ActClaim;
  tctx?: Record<string, unknown>;
  rctx?: Record<string, unknown>;
  [claim: string]: unknown;
}

/**
 * The deepest `act` nesting anything of Baton reads or writes: the most `maxChainDepth` may be configured to (T-23), so
 * no Baton TTS ever issues a deeper chain. A subject token's `act` (an agent acting for the user) is read to this depth
 * and no deeper; a Txn-Token with a deeper chain was not made by a Baton TTS and is refused.
 */
export const MAX_ACT_DEPTH = 32;

/** The claims every Txn-Token carries (T-16, V-06). */
export const REQUIRED_TXN_CLAIMS = ['txn', 'sub', 'scope', 'req_wl', 'iat', 'exp'] as const;

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Whether `v` is an `act` chain: nested objects, each with a non-empty string `sub`, at most MAX_ACT_DEPTH levels.
 * Iterative: a hostile nesting costs its length, never the stack.
 */
export function isActChain(v: unknown): v is ActClaim {
  let a: unknown = v;
  for (let depth = 0; a !== undefined; depth++) {
    if (depth >= MAX_ACT_DEPTH || !isObject(a) || typeof a.sub !== 'string' || a.sub.length === 0) return false;
    a = a.act;
  }
  return true;
}

/**
 * The `act` claim of a claims set: undefined when absent, the chain when well formed, `'invalid'` otherwise (the caller
 * says what that means for it: a refused subject token, a malformed Txn-Token).
 */
export function readAct(claims: Claims): ActClaim | undefined | 'invalid' {
  const a = claims.act;
  if (a === undefined) return undefined;
  return isActChain(a) ? a : 'invalid';
}

/** The workloads of an `act` chain, outermost (current actor) first. */
export function actChain(act: ActClaim | undefined): string[] {
  const out: string[] = [];
  for (let a = act; a !== undefined; a = a.act) out.push(a.sub);
  return out;
}

/** How many workloads an `act` chain names. */
export function actDepth(act: ActClaim | undefined): number {
  let d = 0;
  for (let a = act; a !== undefined; a = a.act) d++;
  return d;
}

/** Builds a nested `act` from workloads listed outermost first. */
export function nestAct(chain: readonly string[]): ActClaim | undefined {
  let act: ActClaim | undefined;
  for (let i = chain.length - 1; i >= 0; i--) act = act === undefined ? { sub: chain[i]! } : { sub: chain[i]!, act };
  return act;
}

/** T-22 / R-05: `workload` becomes the outermost actor; the earlier chain (if any) nests inside, unchanged. */
export function withActor(workload: string, earlier: ActClaim | undefined): ActClaim {
  return earlier === undefined ? { sub: workload } : { sub: workload, act: earlier };
}

/**
 * Every workload of a Txn-Token's transaction, current actor first: the `act` chain, or `[req_wl]` for a token
 * without `act` (T-22: the outermost `act.sub` is `req_wl`).
 */
export function workloadsOf(claims: Pick<TxnTokenClaims, 'act' | 'req_wl'>): string[] {
  const chain = actChain(claims.act);
  return chain.length > 0 ? chain : [claims.req_wl];
}

/** What is wrong with the claims of a Txn-Token whose required claims are present, or undefined (T-16, T-22, V-06). */
export interface ClaimProblem {
  readonly claim: 'txn' | 'sub' | 'scope' | 'req_wl' | 'tctx' | 'rctx' | 'act';
  readonly message: string;
}

/** The shape checks of a Txn-Token's own claims, in the order a verifier applies them; the first problem found. */
export function txnClaimsProblem(p: Claims): ClaimProblem | undefined {
  for (const claim of ['txn', 'sub', 'scope', 'req_wl'] as const) {
    const v = p[claim];
    if (typeof v !== 'string' || v.length === 0) return { claim, message: `${claim} must be a non-empty string` };
  }
  for (const claim of ['tctx', 'rctx'] as const) {
    const v = p[claim];
    if (v !== undefined && !isObject(v)) return { claim, message: `${claim} must be an object` };
  }
  const act = readAct(p);
  if (act === 'invalid') return { claim: 'act', message: `act must be a nested {sub} chain of at most ${MAX_ACT_DEPTH} workloads` };
  // T-22: the outermost act.sub is the current requesting workload
  if (act !== undefined && act.sub !== p.req_wl) return { claim: 'act', message: 'the outermost act does not name req_wl' };
  return undefined;
}
