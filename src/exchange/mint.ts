import type { SigningKey, SigningKeySet } from '../jose/index.js';
import { jsonDepth, MAX_JSON_DEPTH, MAX_TXN_TOKEN_CHARS } from '../jose/json-bounds.js';
import { protectedHeader, signEncodedHeader, type JwsCrypto } from '../jose/jws.js';
import { actChain, TT_TXN_TOKEN, TXN_TOKEN_TYP, withActor, type ActClaim, type TxnTokenClaims } from '../txn/index.js';
import type { Workload } from './client-auth.js';
import type { TtsContext } from './context.js';
import { invalidRequest } from './errors.js';
import type { ExchangeRequest } from './request.js';
import type { Subject } from './subject.js';

/**
 * What goes into a Txn-Token besides its scope: the identity chain (T-22, T-23, R-05) and the contexts and lifetime
 * (T-17, T-18; on replacement). Plain functions of the validated input; nothing here is I/O.
 */

/** The chain of the new token: the requesting workload outermost, the earlier chain inside. */
export interface Chain {
  readonly act: ActClaim;
  /** the workloads of the earlier hops, outermost first (the current workload not included) */
  readonly earlier: string[];
}

/** T-22 / R-05: `workload` becomes the outermost actor; T-23: the chain has at most `maxChainDepth` workloads. */
export function extendChain(ctx: Pick<TtsContext, 'config'>, workload: string, earlier: ActClaim | undefined): Chain {
  const chain = { act: withActor(workload, earlier), earlier: actChain(earlier) };
  if (chain.earlier.length + 1 > ctx.config.maxChainDepth)
    throw invalidRequest('chain.too_deep', `the workload chain would exceed ${ctx.config.maxChainDepth} hops (T-23)`);
  return chain;
}

/** The transaction context, the request context and the expiry of the new token. */
export interface TxnContent {
  readonly tctx: Record<string, unknown>;
  readonly rctx: Record<string, unknown>;
  readonly exp: number;
}

/** Keeps only allow-listed members (T-18): a caller cannot inject claims. */
export function pickAllowed(obj: Record<string, unknown> | undefined, allowed: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (obj === undefined) return out;
  // defineProperty, not assignment: an operator who allow-lists `__proto__` gets it copied as a member, never as the
  // copy's prototype (JSON.parse makes `__proto__` an own member of request_details)
  for (const k of allowed)
    if (Object.prototype.hasOwnProperty.call(obj, k)) Object.defineProperty(out, k, { value: obj[k], enumerable: true, writable: true, configurable: true });
  return out;
}

function lifetime(ctx: Pick<TtsContext, 'config'>): number {
  return Math.min(ctx.config.tokenTtl, ctx.config.maxTokenTtl);
}

/**
 * A first exchange (T-17, T-18): tctx = the user's roles and attributes plus allow-listed `request_details`; rctx =
 * allow-listed `request_context`, `req_ip` from the connection and `authn` from the subject token (never from the
 * body, even when an operator allow-lists those names); exp never beyond the subject token's.
 */
export function firstContent(ctx: Pick<TtsContext, 'config'>, req: ExchangeRequest, subject: Subject, remoteAddr: string | undefined, iat: number): TxnContent {
  let exp = iat + lifetime(ctx);
  if (subject.exp !== undefined) exp = Math.min(exp, subject.exp); // never outlive the user's token
  const tctx: Record<string, unknown> = { roles: [...subject.roles], attr: { ...subject.attr } };
  const details = pickAllowed(req.requestDetails, ctx.config.allowedRequestDetails);
  if (Object.keys(details).length > 0) tctx.request_details = details;
  const rctx = pickAllowed(req.requestContext, ctx.config.allowedRequestContext); // a fresh object: no copy of it
  delete rctx.req_ip;
  delete rctx.authn;
  if (remoteAddr !== undefined) rctx.req_ip = remoteAddr;
  if (subject.authn !== undefined) rctx.authn = subject.authn;
  return { tctx, rctx, exp };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * A replacement: R-04, tctx members may be added (allow-listed `request_details`), never changed or removed; rctx is
 * kept; R-06, exp never beyond the input token's (no lifetime extension).
 */
export function replacementContent(ctx: Pick<TtsContext, 'config'>, req: ExchangeRequest, input: TxnTokenClaims, iat: number): TxnContent {
  const tctx: Record<string, unknown> = structuredClone(input.tctx ?? {});
  const added = pickAllowed(req.requestDetails, ctx.config.allowedRequestDetails);
  if (Object.keys(added).length > 0) {
    const existing = isObject(tctx.request_details) ? tctx.request_details : {};
    for (const [k, v] of Object.entries(added))
      if (k in existing && JSON.stringify(existing[k]) !== JSON.stringify(v))
        throw invalidRequest('replace.tctx_changed', `request_details.${k} would change a value of the transaction context (R-04)`);
    tctx.request_details = { ...existing, ...added };
  }
  return { tctx, rctx: isObject(input.rctx) ? input.rctx : {}, exp: Math.min(iat + lifetime(ctx), input.exp) };
}

/**
 * The token itself: signed (T-15, T-16) and answered (T-20).
 */
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

/** The protected header of a key's Txn-Tokens (kid, typ, alg), encoded once per key. */
const txnHeaders = new WeakMap<SigningKey, string>();
function txnHeader(k: SigningKey): string {
  let p0 = txnHeaders.get(k);
  if (p0 === undefined) {
    p0 = protectedHeader({ kid: k.kid, typ: TXN_TOKEN_TYP }, k.alg);
    txnHeaders.set(k, p0);
  }
  return p0;
}

/**
 * Signs a Txn-Token (T-15, T-16): typ txntoken+jwt, kid of the newest key, alg EdDSA or ES256.
 * The last line of defence of issue 10 finding 4, whatever the claims came from: nothing nested deeper than a
 * verifier accepts reaches `JSON.stringify` (a stack overflow, i.e. a 500), and a token longer than every verifier
 * accepts (MAX_TXN_TOKEN_CHARS) is never issued: both are `invalid_request`.
 */
export async function mintTxnToken(keys: SigningKeySet, m: MintInput, backend?: JwsCrypto): Promise<{ token: string; claims: TxnTokenClaims }> {
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
  const token = await signEncodedHeader(txnHeader(k), claims, k.alg, k.privateKey, backend);
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
 * leaves; a refused one is dropped unseen. The signature is computed inline, however busy the TTS (offload.ts).
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
