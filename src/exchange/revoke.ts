import { JwtProfileError } from '../jose/index.js';
import { StoreUnavailableError } from '../store/types.js';
import { actChain, workloadsOf } from '../txn/index.js';
import type { Workload } from './client-auth.js';
import { authenticateWorkload, nowSeconds, verifyOwnTxnToken, type EntryDraft, type TtsContext } from './context.js';
import { OAuthError, invalidRequest, unavailable } from './errors.js';
import { metaEntry, refused, type InputSource, type RequestMeta } from './exchange.js';
import { inSpan, parentContext } from '../trace/index.js';
import { revokeLimit } from './limits.js';
import { singleValued, type FormPairs } from './request.js';

/** The largest clock tolerance a verifier may be configured with (seconds; the verify contract caps it at 60). */
export const MAX_VERIFIER_CLOCK_TOLERANCE = 60;

export interface RevokeInput {
  /** the form: a `URLSearchParams`, or the pairs `parseFormBody` read from a body */
  form: URLSearchParams | FormPairs;
  authorization?: string | undefined;
}

/**
 * RFC 7009-style revocation of a whole transaction (V-08): by presenting one of its Txn-Tokens (`token`), or by its
 * id (`txn`) for workloads with `revokeById`. Authenticated like an exchange, rate limited per workload (its
 * `perClient` budget, counted apart from exchanges), logged through the same log as every decision.
 */
export function revoke(ctx: TtsContext, source: InputSource<RevokeInput>, meta: RequestMeta = {}): Promise<void> {
  return inSpan('baton.revoke', {}, (span) => revokeSteps(ctx, source, metaEntry('revoke', meta, span)), parentContext(meta.trace));
}

async function revokeSteps(ctx: TtsContext, source: InputSource<RevokeInput>, entry: EntryDraft): Promise<void> {
  try {
    const input = typeof source === 'function' ? await source() : source;
    const params = singleValued(input.form);
    const workload = await authenticateWorkload(ctx, params, input.authorization);
    entry.workload = workload.id;
    await revokeLimit(ctx, workload);
    const txn = await revocationTarget(ctx, params, workload, entry);
    if (txn === undefined) {
      // RFC 7009 §2.2: an invalid or expired token needs no revocation (answered 200, logged as such).
      // `__proto__` first (here and below): V8's slow path for a spread followed by new members (same object, same prototype)
      ctx.log.emit({ __proto__: Object.prototype, ...entry, effect: 'grant', reason: 'the token is invalid or expired: nothing to revoke', reason_code: 'revoke.token_invalid' });
      return;
    }
    await storeRevocation(ctx, txn);
    ctx.log.emit({ __proto__: Object.prototype, ...entry, effect: 'grant' });
  } catch (e) {
    throw refused(ctx, entry, e);
  }
}

/** The transaction to revoke, or undefined when the token presented is invalid or expired (nothing to revoke). */
async function revocationTarget(ctx: TtsContext, params: Map<string, string>, workload: Workload, entry: EntryDraft): Promise<string | undefined> {
  const token = params.get('token');
  const txnParam = params.get('txn');
  if ((token === undefined) === (txnParam === undefined)) throw invalidRequest('revoke.token_or_txn', 'exactly one of token or txn is required');
  if (token === undefined) {
    if (!workload.config.revokeById) throw new OAuthError('unauthorized_client', 'this workload may not revoke by transaction id', { reason: 'revoke.by_id_not_allowed' });
    const txn = txnParam!;
    if (txn.length === 0 || txn.length > 128) throw invalidRequest('revoke.txn_invalid', 'txn must be a transaction id');
    entry.txn = txn;
    return txn;
  }
  let claims;
  try {
    claims = await verifyOwnTxnToken(ctx, token);
  } catch (e) {
    if (e instanceof JwtProfileError) return undefined;
    throw e;
  }
  entry.txn = claims.txn;
  entry.sub = claims.sub;
  entry.chain = actChain(claims.act);
  if (!workloadsOf(claims).includes(workload.id) && !workload.config.revokeById)
    throw new OAuthError('unauthorized_client', 'only a workload of the transaction may revoke it', { reason: 'revoke.not_in_transaction' });
  return claims.txn;
}

/**
 * Stored until the longest possible `exp` of any token of the transaction: any token of it was issued by now, so
 * expires by now + maxTokenTtl; a verifier may still accept it for its clock tolerance after that (up to
 * MAX_VERIFIER_CLOCK_TOLERANCE), so the revocation outlives that too.
 */
async function storeRevocation(ctx: TtsContext, txn: string): Promise<void> {
  const until = nowSeconds(ctx) + ctx.config.maxTokenTtl + Math.max(ctx.config.clockSkew, MAX_VERIFIER_CLOCK_TOLERANCE);
  try {
    await ctx.store.revoke(txn, until);
  } catch (e) {
    if (e instanceof StoreUnavailableError) throw unavailable('revoke.store_unavailable', 'revocation store unavailable; retry later', e);
    throw e;
  }
}
