import type { SigningKeySet } from '../jose/index.js';
import { TXN_TOKEN_TYP, type ActClaim, type TxnTokenClaims } from '../txn/index.js';
import { jsonDepth, MAX_JSON_DEPTH, MAX_TXN_TOKEN_CHARS } from '../jose/json-bounds.js';
import { signCompactJws } from '../jose/jws.js';
import { invalidRequest } from './errors.js';

export interface MintInput {
  issuer: string;
  audience: string;
  sub: string;
  scopes: readonly string[];
  /** authenticated client id (never a caller-supplied value) */
  workload: string;
  act: ActClaim;
  tctx: Record<string, unknown>;
  rctx: Record<string, unknown>;
  iat: number;
  exp: number;
  /** the transaction id: new for a first exchange, copied on replacement */
  txn: string;
}

/**
 * Signs a Txn-Token (T-15, T-16): typ txntoken+jwt, kid of the newest key, alg EdDSA or ES256.
 * The last line of defence of issue 10 finding 4, whatever the claims came from: nothing nested deeper than a
 * verifier accepts reaches `JSON.stringify` (a stack overflow, i.e. a 500), and a token longer than every verifier
 * accepts (MAX_TXN_TOKEN_CHARS) is never issued: both are `invalid_request`.
 */
export async function mintTxnToken(keys: SigningKeySet, m: MintInput): Promise<{ token: string; claims: TxnTokenClaims }> {
  const claims: TxnTokenClaims = {
    iss: m.issuer,
    iat: m.iat,
    exp: m.exp,
    aud: m.audience,
    txn: m.txn,
    sub: m.sub,
    scope: m.scopes.join(' '),
    req_wl: m.workload,
    act: m.act,
    tctx: m.tctx,
    rctx: m.rctx,
  };
  for (const [name, v] of [['tctx', m.tctx], ['rctx', m.rctx], ['act', m.act]] as const)
    if (jsonDepth(v, MAX_JSON_DEPTH + 2) > MAX_JSON_DEPTH + 2) throw invalidRequest(`the Txn-Token's ${name} would be nested deeper than ${MAX_JSON_DEPTH + 2} levels`);
  const k = keys.current;
  const token = await signCompactJws({ kid: k.kid, typ: TXN_TOKEN_TYP }, claims, k.alg, k.privateKey);
  if (token.length > MAX_TXN_TOKEN_CHARS)
    throw invalidRequest(`the Txn-Token would be longer than ${MAX_TXN_TOKEN_CHARS} characters, which no verifier accepts (request_details or the subject's claims are too large)`);
  return { token, claims };
}

/** Keeps only allow-listed members (T-18): a caller cannot inject claims. */
export function pickAllowed(obj: Record<string, unknown> | undefined, allowed: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (obj === undefined) return out;
  for (const k of allowed) if (Object.prototype.hasOwnProperty.call(obj, k)) out[k] = obj[k];
  return out;
}
