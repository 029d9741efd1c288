import type { DecisionLog } from '../log/index.js';
import { inSpan, subAttribute, traceIdOf, type Span } from '../trace/index.js';
import { buildContext, type TxnContext } from './context.js';
import { InFlight, TokenCache } from './cache.js';
import { isPromiseLike } from '../jose/jws.js';
import { storeChecks } from './checks.js';
import { serviceLog, type ServiceDecisionEntry } from './decision.js';
import { TxnTokenError } from './errors.js';
import { parseTxnTokenHeader } from './header.js';
import { txnTokenChecker } from './keys.js';
import { verifierSettings, type VerifierOptions } from './options.js';

/**
 * The verifier a receiving service uses for every request (V-01..V-09), composed of one module per concern:
 *   options.ts  the options, checked once at construction
 *   header.ts   the `Txn-Token` header (V-01)
 *   keys.ts     key resolution and the Txn-Token profile (V-02..V-07)
 *   cache.ts    verified tokens until `exp`, bounded; concurrent verifications of one token shared
 *   checks.ts   revocation (V-08) and the replay guard (V-09), on every call
 *   decision.ts the decision log of this service (one entry per refusal here, per `authorize` decision on its contexts)
 */
export { DEFAULT_ALGORITHMS, DEFAULT_CACHE_MAX_BYTES, type VerifierOptions } from './options.js';
export { entryBytes } from './cache.js';
export { parseTxnTokenHeader } from './header.js';
export type { TxnContext } from './context.js';
export type { TxnPrincipal } from '../txn/index.js';
export type { ServiceDecisionEntry, ServiceDecisionSink } from './decision.js';

export interface Verifier {
  /** Verifies the value of the `Txn-Token` header (V-01..V-09). Throws `TxnTokenError`. */
  verify(headerValue: string | null | undefined): Promise<TxnContext>;
  /** What the verified-token cache holds now: entries and their estimated bytes (`entryBytes`). */
  cacheStats(): { entries: number; bytes: number };
  close(): Promise<void>;
}

export function createVerifier(o: VerifierOptions): Verifier {
  const s = verifierSettings(o);
  const log = serviceLog({ onDecision: o.onDecision, service: o.service, now: s.now });
  const checkToken = txnTokenChecker(o, s);
  const cache = new TokenCache({ maxEntries: s.cacheEntries, maxBytes: s.cacheBytes, now: s.now });
  const inflight = new InFlight<TxnContext>();
  const checks = storeChecks({
    store: o.store,
    failOpen: o.revocation === 'fail-open',
    replayNamespace: o.replayGuard?.namespace,
    clockSkew: s.clockSkew,
    now: s.now,
    warn: o.warn ?? ((line: string) => console.warn(line)),
    service: log.hop,
  });
  let closed = false;

  const verify = (headerValue: string | null | undefined): Promise<TxnContext> => inSpan('baton.verify', {}, (span) => verifyIn(span, headerValue));

  // A token not in the cache, checked and cached: at once when the check is synchronous (a key selected before,
  // node:crypto), nothing to share then; otherwise concurrent verifications of the token share one.
  function verifyFresh(token: string, sig: string): TxnContext | Promise<TxnContext> {
    const claims = checkToken(token);
    if (isPromiseLike(claims)) return inflight.share(token, async () => buildContext(token, await claims, log), (c) => cache.put(sig, token, c));
    const c = buildContext(token, claims, log);
    cache.put(sig, token, c);
    return c;
  }

  async function verifyIn(span: Span, headerValue: string | null | undefined): Promise<TxnContext> {
    let ctx: TxnContext | undefined;
    try {
      if (closed) throw new TxnTokenError('unavailable', 'the verifier is closed', { reason: 'closed' });
      const token = parseTxnTokenHeader(headerValue);
      const sig = token.slice(token.lastIndexOf('.') + 1);
      const nowMs = s.now();
      const known = cache.get(token, sig, nowMs) ?? inflight.get(token) ?? verifyFresh(token, sig);
      ctx = isPromiseLike(known) ? await known : known;
      const pending = checks.check(ctx, nowMs);
      if (pending !== undefined) await pending;
      if (span.isRecording()) span.setAttributes({ 'baton.txn': ctx.txn, 'baton.workload': ctx.actor, 'baton.decision': 'allow', ...subAttribute(ctx.sub) });
      return ctx;
    } catch (e) {
      const err = refused(log, e, ctx, traceIdOf(span));
      if (span.isRecording()) span.setAttributes({ 'baton.decision': 'deny', 'baton.error': err.code, 'baton.reason_code': err.reason });
      throw err;
    }
  }

  return {
    verify,
    cacheStats: () => cache.stats(),
    async close() {
      closed = true;
      cache.clear();
      inflight.clear();
      checks.close();
    },
  };
}

/** Every refusal: one `TxnTokenError`, logged with its code and reason (and who, when the token was verified). */
function refused(log: DecisionLog<ServiceDecisionEntry>, e: unknown, ctx: TxnContext | undefined, traceId: string | undefined): TxnTokenError {
  const err = e instanceof TxnTokenError ? e : new TxnTokenError('unavailable', 'verification failed unexpectedly', { reason: 'internal', cause: e });
  log.emit({
    event: 'verify',
    effect: 'deny',
    ...(ctx !== undefined ? { txn: ctx.txn, sub: ctx.sub, workload: ctx.actor, chain: [...ctx.chain] } : {}),
    error: err.code,
    reason: err.message,
    reason_code: err.reason,
    ...(traceId !== undefined ? { trace_id: traceId } : {}),
  });
  return err;
}
