import type { SigningKeySet } from '../jose/index.js';
import { jsonDepth, MAX_JSON_DEPTH, MAX_TXN_TOKEN_CHARS } from '../jose/json-bounds.js';
import { signCompactJws } from '../jose/jws.js';
import { TT_TXN_TOKEN, TXN_TOKEN_TYP, type ActClaim, type TxnTokenClaims } from '../txn/index.js';
import type { Workload } from './client-auth.js';
import type { TtsContext } from './context.js';
import { invalidRequest } from './errors.js';
import type { Chain, TxnContent } from './plan.js';
import type { ExchangeRequest } from './request.js';

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
    if (jsonDepth(v, MAX_JSON_DEPTH + 2) > MAX_JSON_DEPTH + 2) throw invalidRequest('mint.too_deep', `the Txn-Token's ${name} would be nested deeper than ${MAX_JSON_DEPTH + 2} levels`);
  const k = keys.current;
  const token = await signCompactJws({ kid: k.kid, typ: TXN_TOKEN_TYP }, claims, k.alg, k.privateKey);
  if (token.length > MAX_TXN_TOKEN_CHARS)
    throw invalidRequest(
      'mint.too_large',
      `the Txn-Token would be longer than ${MAX_TXN_TOKEN_CHARS} characters, which no verifier accepts (request_details or the subject's claims are too large)`);
  return { token, claims };
}

/** RFC 8693 §2.2.1 / T-20: the successful answer. */
export interface TokenResponseBody {
  access_token: string;
  issued_token_type: typeof TT_TXN_TOKEN;
  token_type: 'N_A';
  expires_in: number;
  /** only when the grant is narrower than the request (T-14) */
  scope?: string;
}

/** Everything the mint step signs, decided by the steps before it. */
export interface Issue {
  readonly req: ExchangeRequest;
  readonly workload: Workload;
  readonly sub: string;
  /** the transaction id: new for a first exchange, copied on replacement */
  readonly txn: string;
  readonly chain: Chain;
  readonly content: TxnContent;
  readonly granted: readonly string[];
  readonly iat: number;
}

/**
 * The mint step: signs the Txn-Token and answers. Checks still in flight (a rate limit) decide whether the token
 * leaves; a refused one is dropped unseen.
 */
export async function issueTxnToken(ctx: Pick<TtsContext, 'keys' | 'config'>, i: Issue, pending: readonly Promise<void>[] = []): Promise<TokenResponseBody> {
  const { exp, tctx, rctx } = i.content;
  if (exp <= i.iat) throw invalidRequest('mint.expires_too_soon', 'the subject token expires too soon to issue a Txn-Token');
  const { token } = await mintTxnToken(ctx.keys, {
    issuer: ctx.config.issuer, audience: i.req.audience, sub: i.sub, scopes: i.granted, workload: i.workload.id,
    act: i.chain.act, tctx, rctx, iat: i.iat, exp, txn: i.txn,
  });
  for (const p of pending) await p;
  const body: TokenResponseBody = { access_token: token, issued_token_type: TT_TXN_TOKEN, token_type: 'N_A', expires_in: exp - i.iat };
  if (i.granted.length !== i.req.scopes.length) body.scope = i.granted.join(' ');
  return body;
}
