import { inSpan, inSpanSync, parentContext, subAttribute, traceIdOf, type Span, type TraceHeaders } from '../trace/index.js';
import { parseScope, peekString, principalFrom, TT_TXN_TOKEN, userOf, type TxnPrincipal } from '../txn/index.js';
import type { Workload } from './client-auth.js';
import { authenticateWorkload, nowSeconds, type EntryDraft, type TtsContext } from './context.js';
import { OAuthError, toOAuthError } from './errors.js';
import { clientVerdict, started, startLimits, subjectVerdict, type StartedLimits } from './limits.js';
import { extendChain, firstContent, issueTxnToken, replacementContent, type Chain, type TokenResponseBody } from './mint.js';
import { replacementInput } from './replace.js';
import { parseExchangeRequest, singleValued, type ExchangeRequest, type FormPairs } from './request.js';
import { decideScope, NoScopeGranted, type ScopeDecision } from './scope.js';
import { parseIssuedSubject, validateSubject } from './subject.js';
import type { ParsedJws } from '../jose/jws.js';

/** `peekString`'s reading of a claim: a non-empty string, or undefined. */
function nonEmptyString(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/**
 * The token exchange (RFC 8693 → Txn-Token) as plain steps over an explicit context:
 *   request (request.ts) → client (client-auth.ts) → limits (limits.ts) → subject (subject.ts; replace.ts for a
 *   Txn-Token) → chain (mint.ts) → scope (scope.ts) → mint (mint.ts: what goes in the token, signed, answered)
 * and one decision entry per request, grant or denial, through the context's log.
 */

export interface ExchangeInput {
  /** the form: a `URLSearchParams`, or the pairs `parseFormBody` read from a body */
  form: URLSearchParams | FormPairs;
  authorization?: string | undefined;
  /** from the connection, never from the body (T-18) */
  remoteAddr?: string | undefined;
}

/** An input, or how to read it: an input refused while being read (a body too large) is logged like every refusal. */
export type InputSource<I> = I | (() => Promise<I>);

/** What the transport knows of a request beyond its input: its id (`X-Request-Id`) and trace headers. */
export interface RequestMeta {
  requestId?: string | undefined;
  trace?: TraceHeaders | undefined;
}

/** The decision entry a request starts with: its event, its id and its trace id (when there are). */
export function metaEntry(event: EntryDraft['event'], meta: RequestMeta, span: Span): EntryDraft {
  const entry: EntryDraft = { event };
  if (meta.requestId !== undefined) entry.request_id = meta.requestId;
  const traceId = traceIdOf(span);
  if (traceId !== undefined) entry.trace_id = traceId;
  return entry;
}

/** The exchange in its span (`baton.exchange`, a child of the caller's `traceparent`). */
export function exchange(ctx: TtsContext, source: InputSource<ExchangeInput>, meta: RequestMeta = {}): Promise<TokenResponseBody> {
  return inSpan('baton.exchange', {}, (span) => exchangeSteps(ctx, source, metaEntry('exchange', meta, span), span), parentContext(meta.trace));
}

async function exchangeSteps(ctx: TtsContext, source: InputSource<ExchangeInput>, entry: EntryDraft, span: Span): Promise<TokenResponseBody> {
  ctx.offload.enter();
  try {
    const input = typeof source === 'function' ? await source() : source;
    const params = singleValued(input.form);
    const req = parseExchangeRequest(params, { maxContextBytes: ctx.config.maxContextBytes });
    // Authenticate before answering about the audience: an unauthenticated caller cannot probe trust domains.
    // Nothing the caller sent is logged before it authenticated (issue 10 finding 5): a refusal then carries only
    // the error and Baton's own reason.
    const workload = await inSpan('baton.exchange.client', {}, () => authenticateWorkload(ctx, params, input.authorization));
    if (span.isRecording()) span.setAttributes({ 'baton.workload': workload.id, 'baton.audience': req.audience });
    entry.workload = workload.id;
    entry.audience = req.audience;
    entry.requested = req.scopes;
    if (!ctx.trustDomains.includes(req.audience))
      throw new OAuthError('invalid_target', 'audience is not a trust domain of this TTS', { reason: 'request.audience_unknown' });
    // The per-client and per-(client, subject) limits go in one store call, started now with the subject token's sub
    // read WITHOUT verification (limits.ts): its result is used only once the validated sub equals it.
    // An issuer's token is parsed once, here: its unverified sub for the limits, the parsed token for the subject step.
    const subjectJws = parseIssuedSubject(req.subjectToken, req.subjectTokenType);
    const limits = startLimits(ctx, workload, subjectJws !== undefined ? nonEmptyString(subjectJws.payload.sub) : peekString(req.subjectToken, 'sub'));
    const out =
      req.subjectTokenType === TT_TXN_TOKEN
        ? await replaceTxnToken(ctx, req, workload, limits, entry)
        : await firstExchange(ctx, req, workload, input.remoteAddr, limits, entry, subjectJws);
    if (span.isRecording())
      span.setAttributes({ 'baton.txn': String(entry.txn ?? ''), 'baton.decision': 'grant', ...subAttribute(typeof entry.sub === 'string' ? entry.sub : undefined) });
    granted(ctx, entry);
    return out;
  } catch (e) {
    const err = refused(ctx, entry, e);
    if (span.isRecording()) span.setAttributes({ 'baton.decision': 'deny', 'baton.error': err.error, 'baton.reason_code': err.reason ?? '' });
    throw err;
  } finally {
    ctx.offload.leave();
  }
}

/**
 * A grant, logged: the entry itself becomes the draft (no copy of it; nothing changes it after this, as `emit` asks of
 * a draft), with its effect set.
 */
function granted(ctx: Pick<TtsContext, 'log'>, entry: EntryDraft): void {
  const draft = entry as EntryDraft & { effect: 'grant' };
  draft.effect = 'grant';
  ctx.log.emit(draft);
}

/** Every refusal: one OAuth error, logged with its reason. */
export function refused(ctx: Pick<TtsContext, 'log'>, entry: EntryDraft, e: unknown): OAuthError {
  const err = toOAuthError(e);
  if (e instanceof NoScopeGranted) entry.dropped = e.dropped;
  // `__proto__` first: V8's slow path for a spread followed by new members (same object, same prototype)
  ctx.log.emit({ __proto__: Object.prototype, ...entry, effect: 'deny', error: err.error, reason: err.message, reason_code: err.reason });
  return err;
}

/** A user's token (T-09..T-18): the subject validated while the client's limit is checked. */
async function firstExchange(
  ctx: TtsContext, req: ExchangeRequest, workload: Workload, remoteAddr: string | undefined, limits: StartedLimits, entry: EntryDraft, subjectJws: ParsedJws | undefined,
): Promise<TokenResponseBody> {
  const c = ctx.config;
  const subjectCtx = { issuers: ctx.issuers, ttsIssuer: c.issuer, clockSkew: c.clockSkew, maxClaimsBytes: c.maxSubjectClaimsBytes, currentDate: ctx.now, crypto: ctx.offload.verifier() };
  const subjectP = started(validateSubject(subjectCtx, workload, req.subjectToken, req.subjectTokenType, subjectJws));
  await clientVerdict(limits); // a workload over its limit gets 429 whatever its subject token
  const subject = await inSpan('baton.exchange.subject', {}, () => subjectP);
  entry.sub = subject.sub;
  const subjectLimit = subjectVerdict(ctx, limits, workload, subject.sub);
  const chain = extendChain(ctx, workload.id, subject.act);
  entry.chain = [workload.id, ...chain.earlier];
  const principal = principalFrom({ sub: subject.sub, roles: subject.roles, attr: subject.attr, workload: workload.id, earlier: chain.earlier });
  const decision = scopeStep(ctx, req, workload, chain, principal, subject.scopes, entry);
  const iat = nowSeconds(ctx);
  const txn = crypto.randomUUID();
  entry.txn = txn;
  const content = firstContent(ctx, req, subject, remoteAddr, iat);
  return inSpan('baton.exchange.mint', {}, () => issueTxnToken(ctx, { req, workload, sub: subject.sub, txn, chain, content, granted: decision.granted, iat }, [subjectLimit]));
}

/** Replacement (R-01..R-06): a Txn-Token of this trust domain as the subject token. */
async function replaceTxnToken(ctx: TtsContext, req: ExchangeRequest, workload: Workload, limits: StartedLimits, entry: EntryDraft): Promise<TokenResponseBody> {
  entry.event = 'replace';
  const input = await inSpan('baton.exchange.replace', {}, () => replacementInput(ctx, req, workload, limits, peekString(req.subjectToken, 'txn'), entry));
  const chain = extendChain(ctx, workload.id, input.act);
  entry.chain = [workload.id, ...chain.earlier];
  // scope only narrows. The input token's scope plays the subject's part (with implications: `tickets` ⊇ `tickets:read`).
  const principal = principalFrom({ sub: input.sub, ...userOf(input), workload: workload.id, earlier: chain.earlier });
  const decision = scopeStep(ctx, req, workload, chain, principal, parseScope(input.scope), entry);
  const iat = nowSeconds(ctx);
  const content = replacementContent(ctx, req, input, iat);
  return inSpan('baton.exchange.mint', {}, () => issueTxnToken(ctx, { req, workload, sub: input.sub, txn: input.txn, chain, content, granted: decision.granted, iat }));
}

/** The scope step (T-12, T-14, T-24): what the request may have, and why the rest was dropped. */
function scopeStep(
  ctx: Pick<TtsContext, 'config' | 'policy'>, req: ExchangeRequest, workload: Workload, chain: Chain, principal: TxnPrincipal,
  subjectScopes: readonly string[], entry: EntryDraft,
): ScopeDecision {
  const decision = inSpanSync('baton.exchange.scope', {}, (span) => {
    const d = decideScope({
    requested: req.scopes,
    subjectScopes,
    ceiling: workload.config.scopes,
    implications: ctx.config.scopeImplications,
    policy: ctx.policy,
    policyInput: { principal, workload: workload.id, chain: chain.earlier, audience: req.audience, requestDetails: req.requestDetails, requestContext: req.requestContext },
    });
    if (span.isRecording()) span.setAttribute('baton.granted', d.granted.join(' '));
    return d;
  });
  entry.granted = decision.granted;
  entry.dropped = decision.dropped;
  return decision;
}
