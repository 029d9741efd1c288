import { actChain, withActor, type ActClaim, type TxnTokenClaims } from '../txn/index.js';
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
  for (const k of allowed) if (Object.prototype.hasOwnProperty.call(obj, k)) out[k] = obj[k];
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
  const rctx: Record<string, unknown> = { ...pickAllowed(req.requestContext, ctx.config.allowedRequestContext) };
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
