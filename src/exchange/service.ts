import { base64url, createLocalJWKSet, type JWTVerifyGetKey } from 'jose';
import { sha256 } from '../jose/sha256.js';
import { scrub } from '../log/index.js';
import type { Config } from '../config/schema.js';
import { trustDomainsOf } from '../config/schema.js';
import { JwtProfileError, verifyTxnToken, type SigningKeySet } from '../jose/index.js';
import { actChain, actDepth, peekString, TT_TXN_TOKEN, type ActClaim, type TxnTokenClaims } from '../txn/index.js';
import type { RateLimitCheck, RateLimitResult, Store } from '../store/types.js';
import { rateLimitAll, StoreUnavailableError } from '../store/types.js';
import { authenticateClient, prepareWorkload, type Workload } from './client-auth.js';
import { OAuthError, invalidRequest } from './errors.js';
import { mintTxnToken, pickAllowed } from './mint.js';
import { parseExchangeRequest, readClientCredentials, singleValued, type ExchangeRequest } from './request.js';
import { decideScope, NoScopeGranted, type ScopeDecision, type ScopePolicy, type ScopePolicyInput } from './scope.js';
import { prepareIssuer, validateSubject, type Subject, type TrustedIssuer } from './subject.js';

/** The largest clock tolerance a verifier may be configured with (seconds; the verify contract caps it at 60). */
export const MAX_VERIFIER_CLOCK_TOLERANCE = 60;

/** One structured line per decision; never a raw token (V-11). */
export interface DecisionEntry {
  time: string;
  hop: 'tts';
  event: 'exchange' | 'replace' | 'revoke';
  effect: 'grant' | 'deny';
  txn?: string | undefined;
  sub?: string | undefined;
  workload?: string | undefined;
  chain?: string[] | undefined;
  audience?: string | undefined;
  requested?: string[] | undefined;
  granted?: string[] | undefined;
  dropped?: ScopeDecision['dropped'] | undefined;
  error?: string | undefined;
  reason?: string | undefined;
}
export type DecisionSink = (entry: DecisionEntry) => void;

export interface TokenServiceOptions {
  config: Config;
  keys: SigningKeySet;
  store: Store;
  policy?: ScopePolicy | undefined;
  onDecision?: DecisionSink | undefined;
  now?: () => Date;
}

export interface ExchangeInput {
  form: URLSearchParams;
  authorization?: string | undefined;
  /** from the connection, never from the body (T-18) */
  remoteAddr?: string | undefined;
}

export interface TokenResponseBody {
  access_token: string;
  issued_token_type: typeof TT_TXN_TOKEN;
  token_type: 'N_A';
  expires_in: number;
  scope?: string;
}

/** The TTS pipeline as plain functions: parse → authenticate → limit → validate subject → decide scope → mint. */
export class TokenService {
  readonly config: Config;
  readonly keys: SigningKeySet;
  readonly store: Store;
  readonly trustDomains: readonly string[];
  readonly workloads: ReadonlyMap<string, Workload>;
  readonly issuers: ReadonlyMap<string, TrustedIssuer>;
  readonly #policy: ScopePolicy | undefined;
  readonly #onDecision: DecisionSink | undefined;
  readonly #now: () => Date;
  /** the TTS's own keys, for verifying Txn-Tokens presented for replacement or revocation */
  readonly ownKeys: JWTVerifyGetKey;

  private constructor(o: TokenServiceOptions, workloads: Map<string, Workload>, issuers: Map<string, TrustedIssuer>) {
    this.config = o.config;
    this.keys = o.keys;
    this.store = o.store;
    this.trustDomains = trustDomainsOf(o.config);
    this.workloads = workloads;
    this.issuers = issuers;
    this.#policy = o.policy;
    this.#onDecision = o.onDecision;
    this.#now = o.now ?? (() => new Date());
    this.ownKeys = createLocalJWKSet(o.keys.jwks());
  }

  static async create(o: TokenServiceOptions): Promise<TokenService> {
    const workloads = new Map<string, Workload>();
    for (const c of o.config.clients) workloads.set(c.id, await prepareWorkload(c));
    const issuers = new Map<string, TrustedIssuer>();
    for (const s of o.config.subjectIssuers) issuers.set(s.issuer, prepareIssuer(s, { clockSkew: o.config.clockSkew }));
    return new TokenService(o, workloads, issuers);
  }

  /** Authenticates the workload of a request (shared by /token and /revoke). */
  async authenticate(params: Map<string, string>, authorization: string | undefined): Promise<Workload> {
    return authenticateClient(
      { workloads: this.workloads, issuer: this.config.issuer, store: this.store, clockSkew: this.config.clockSkew, currentDate: this.#now },
      authorization,
      readClientCredentials(params),
    );
  }

  /** Verifies a Txn-Token issued by this TTS exactly as a receiving service would (R-01, V-02..V-07). */
  async verifyOwnTxnToken(token: string): Promise<TxnTokenClaims> {
    const { claims } = await verifyTxnToken(token, {
      getKey: this.ownKeys,
      algorithms: ['EdDSA', 'ES256'],
      clockSkew: this.config.clockSkew,
      audiences: this.trustDomains,
      issuer: this.config.issuer,
      currentDate: this.#now(),
    });
    return claims;
  }

  /**
   * RFC 7009-style revocation of a whole transaction (V-08): by presenting one of its Txn-Tokens (`token`), or by its
   * id (`txn`) for workloads with `revokeById`. Authenticated like an exchange, rate limited per workload (its
   * `perClient` budget, counted apart from exchanges), logged through the same guarded sink as every decision. The
   * revocation is stored until the longest possible `exp` of any token of the transaction, read from the service
   * clock, plus the longest clock tolerance a verifier may have.
   */
  async revoke(input: Omit<ExchangeInput, 'remoteAddr'>): Promise<void> {
    const log: Partial<DecisionEntry> = { event: 'revoke' };
    try {
      const params = singleValued(input.form);
      const workload = await this.authenticate(params, input.authorization);
      log.workload = workload.id;
      const l = workload.config.rateLimit ?? this.config.defaultRateLimit;
      await this.#limit(`r:${workload.id}`, l.perClient, l.windowSeconds);
      const token = params.get('token');
      const txnParam = params.get('txn');
      if ((token === undefined) === (txnParam === undefined)) throw invalidRequest('exactly one of token or txn is required');
      let txn: string;
      if (token !== undefined) {
        let claims: TxnTokenClaims;
        try {
          claims = await this.verifyOwnTxnToken(token);
        } catch (e) {
          // RFC 7009 §2.2: an invalid or expired token needs no revocation (answered 200, logged as such).
          if (e instanceof JwtProfileError) {
            this.#emit({ ...log, effect: 'grant', reason: 'the token is invalid or expired: nothing to revoke' });
            return;
          }
          throw e;
        }
        log.txn = claims.txn;
        log.sub = claims.sub;
        const chain = [claims.req_wl, ...actChain(claims.act)];
        log.chain = actChain(claims.act);
        if (!chain.includes(workload.id) && !workload.config.revokeById)
          throw new OAuthError('unauthorized_client', 'only a workload of the transaction may revoke it');
        txn = claims.txn;
      } else {
        if (!workload.config.revokeById) throw new OAuthError('unauthorized_client', 'this workload may not revoke by transaction id');
        txn = txnParam!;
        if (txn.length === 0 || txn.length > 128) throw invalidRequest('txn must be a transaction id');
        log.txn = txn;
      }
      // Any token of the transaction was issued by now, so expires by now + maxTokenTtl; a verifier may still accept
      // it for its clock tolerance after that (up to MAX_VERIFIER_CLOCK_TOLERANCE), so the revocation outlives that too.
      const nowSec = Math.floor(this.#now().getTime() / 1000);
      const until = nowSec + this.config.maxTokenTtl + Math.max(this.config.clockSkew, MAX_VERIFIER_CLOCK_TOLERANCE);
      try {
        await this.store.revoke(txn, until);
      } catch (e) {
        if (e instanceof StoreUnavailableError) throw new OAuthError('temporarily_unavailable', 'revocation store unavailable; retry later', { cause: e });
        throw e;
      }
      this.#emit({ ...log, effect: 'grant' });
    } catch (e) {
      const err = toOAuthError(e);
      this.#emit({ ...log, effect: 'deny', error: err.error, reason: err.message });
      throw err;
    }
  }

  async exchange(input: ExchangeInput): Promise<TokenResponseBody> {
    const log: Partial<DecisionEntry> = { event: 'exchange' };
    try {
      const params = singleValued(input.form);
      const req = parseExchangeRequest(params, { maxContextBytes: this.config.maxContextBytes });
      // Authenticate before answering about the audience: an unauthenticated caller cannot probe trust domains.
      // Nothing the caller sent is logged before it authenticated (issue 10 finding 5): a refusal then carries only
      // the error and Baton's own reason.
      const workload = await this.authenticate(params, input.authorization);
      log.workload = workload.id;
      log.audience = req.audience;
      log.requested = req.scopes;
      if (!this.trustDomains.includes(req.audience)) throw new OAuthError('invalid_target', 'audience is not a trust domain of this TTS');
      // Store round trips overlap the CPU work (subject validation, minting); each is awaited before it matters.
      // The per-client and per-(client, subject) limits go in one store call, started now with the subject token's
      // sub read WITHOUT verification (see #startLimits): its result is used only once the validated sub equals it.
      // read WITHOUT verification: only ever used to start a store call early (see #startLimits)
      const claimed: PeekedClaims = { sub: peekString(req.subjectToken, 'sub'), txn: peekString(req.subjectToken, 'txn') };
      const limits = this.#startLimits(workload, claimed?.sub);
      const out =
        req.subjectTokenType === TT_TXN_TOKEN
          ? await this.#replace(req, workload, log, limits, claimed)
          : await this.#firstExchange(req, workload, input, log, limits);
      this.#emit({ ...log, effect: 'grant' });
      return out;
    } catch (e) {
      const err = toOAuthError(e);
      if (e instanceof NoScopeGranted) log.dropped = e.dropped;
      this.#emit({ ...log, effect: 'deny', error: err.error, reason: err.message });
      throw err;
    }
  }

  async #firstExchange(req: ExchangeRequest, workload: Workload, input: ExchangeInput, log: Partial<DecisionEntry>, limits: StartedLimits): Promise<TokenResponseBody> {
    const subjectP = started(
      validateSubject(
        { issuers: this.issuers, ttsIssuer: this.config.issuer, clockSkew: this.config.clockSkew, maxClaimsBytes: this.config.maxSubjectClaimsBytes, currentDate: this.#now },
        workload,
        req.subjectToken,
        req.subjectTokenType,
      ),
    );
    await this.#clientVerdict(limits); // a workload over its limit gets 429 whatever its subject token
    const subject = await subjectP;
    log.sub = subject.sub;
    const subjectLimit = this.#subjectVerdict(limits, workload, subject.sub);

    const act: ActClaim = subject.act === undefined ? { sub: workload.id } : { sub: workload.id, act: subject.act };
    this.#checkDepth(act);
    const prior = actChain(subject.act);
    log.chain = [workload.id, ...prior];

    const decision = decideScope({
      requested: req.scopes,
      subjectScopes: subject.scopes,
      ceiling: workload.config.scopes,
      implications: this.config.scopeImplications,
      policy: this.#policy,
      policyInput: this.#policyInput(subject.sub, subject.roles, subject.attr, workload.id, prior, req),
    });
    log.granted = decision.granted;
    log.dropped = decision.dropped;

    const nowSec = Math.floor(this.#now().getTime() / 1000);
    let exp = nowSec + Math.min(this.config.tokenTtl, this.config.maxTokenTtl);
    if (subject.exp !== undefined) exp = Math.min(exp, subject.exp); // never outlive the user's token
    const tctx: Record<string, unknown> = { roles: [...subject.roles], attr: { ...subject.attr } };
    const details = pickAllowed(req.requestDetails, this.config.allowedRequestDetails);
    if (Object.keys(details).length > 0) tctx.request_details = details;
    const rctx: Record<string, unknown> = { ...pickAllowed(req.requestContext, this.config.allowedRequestContext) };
    // T-18: req_ip comes from the connection and authn from the subject token, never from the body, even when
    // an operator allow-lists those names in request_context.
    delete rctx.req_ip;
    delete rctx.authn;
    if (input.remoteAddr !== undefined) rctx.req_ip = input.remoteAddr;
    if (subject.authn !== undefined) rctx.authn = subject.authn;

    const txn = crypto.randomUUID();
    log.txn = txn;
    return this.#issue(req, workload, subject.sub, decision, act, tctx, rctx, nowSec, exp, txn, [subjectLimit]);
  }

  /** Replacement (R-01..R-06): a Txn-Token of this trust domain as the subject token. */
  async #replace(req: ExchangeRequest, workload: Workload, log: Partial<DecisionEntry>, limits: StartedLimits, claimed: PeekedClaims | undefined): Promise<TokenResponseBody> {
    log.event = 'replace';
    let input: TxnTokenClaims;
    const inputP = started(this.verifyOwnTxnToken(req.subjectToken));
    // The revocation check is a read: started with the unverified txn, its answer counts only for that same txn.
    const claimedTxn = claimed?.txn;
    const revokedEarly = claimedTxn === undefined ? undefined : started(this.#isRevoked(claimedTxn));
    await this.#clientVerdict(limits);
    try {
      input = await inputP;
    } catch (e) {
      if (e instanceof JwtProfileError) {
        const why: Partial<Record<string, string>> = {
          expired: 'the Txn-Token is expired',
          wrong_audience: 'the Txn-Token is for another trust domain',
          wrong_issuer: 'the Txn-Token was issued by another TTS',
          wrong_type: 'the subject token is not a Txn-Token',
          bad_signature: 'the Txn-Token signature is invalid',
          unknown_kid: 'the Txn-Token was not signed by this TTS',
        };
        throw invalidRequest(why[e.code] ?? `the Txn-Token is rejected: ${e.message}`, e);
      }
      throw e;
    }
    log.txn = input.txn;
    log.sub = input.sub;
    // The per-(workload, subject) budget counts replacements too: the subject is the input token's sub.
    const subjectLimit = this.#subjectVerdict(limits, workload, input.sub);
    const revoked = revokedEarly !== undefined && claimedTxn === input.txn ? revokedEarly : started(this.#isRevoked(input.txn));
    const inputAud = Array.isArray(input.aud) ? input.aud : [input.aud];
    if (!inputAud.includes(req.audience)) throw new OAuthError('invalid_target', 'a replacement keeps the trust domain of the input token (R-02)');
    await subjectLimit;
    if (await revoked) throw invalidRequest('the transaction is revoked');

    const act: ActClaim = input.act === undefined ? { sub: workload.id } : { sub: workload.id, act: input.act };
    this.#checkDepth(act);
    const prior = actChain(input.act);
    log.chain = [workload.id, ...prior];

    const inTctx = input.tctx ?? {};
    const roles = Array.isArray(inTctx.roles) ? (inTctx.roles as unknown[]).filter((r): r is string => typeof r === 'string') : [];
    const attr = isObject(inTctx.attr) ? inTctx.attr : {};
    // scope only narrows. The input token's scope plays the subject's part (with implications: `tickets` ⊇ `tickets:read`).
    const decision = decideScope({
      requested: req.scopes,
      subjectScopes: input.scope.split(' ').filter((s) => s.length > 0),
      ceiling: workload.config.scopes,
      implications: this.config.scopeImplications,
      policy: this.#policy,
      policyInput: this.#policyInput(input.sub, roles.length > 0 ? roles : ['user'], attr, workload.id, prior, req),
    });
    log.granted = decision.granted;
    log.dropped = decision.dropped;

    // tctx members may be added, never changed or removed.
    const tctx: Record<string, unknown> = structuredClone(inTctx);
    const added = pickAllowed(req.requestDetails, this.config.allowedRequestDetails);
    if (Object.keys(added).length > 0) {
      const existing = isObject(tctx.request_details) ? tctx.request_details : {};
      for (const [k, v] of Object.entries(added))
        if (k in existing && JSON.stringify(existing[k]) !== JSON.stringify(v))
          throw invalidRequest(`request_details.${k} would change a value of the transaction context (R-04)`);
      tctx.request_details = { ...existing, ...added };
    }
    const nowSec = Math.floor(this.#now().getTime() / 1000);
    // never beyond the input token's exp (no lifetime extension).
    const exp = Math.min(nowSec + Math.min(this.config.tokenTtl, this.config.maxTokenTtl), input.exp);
    const rctx = isObject(input.rctx) ? input.rctx : {};
    return this.#issue(req, workload, input.sub, decision, act, tctx, rctx, nowSec, exp, input.txn);
  }

  async #issue(
    req: ExchangeRequest, workload: Workload, sub: string, decision: ScopeDecision, act: ActClaim,
    tctx: Record<string, unknown>, rctx: Record<string, unknown>, iat: number, exp: number, txn: string,
    pending: readonly Promise<void>[] = [],
  ): Promise<TokenResponseBody> {
    if (exp <= iat) throw invalidRequest('the subject token expires too soon to issue a Txn-Token');
    const { token } = await mintTxnToken(this.keys, {
      issuer: this.config.issuer, audience: req.audience, sub, scopes: decision.granted, workload: workload.id,
      act, tctx, rctx, iat, exp, txn,
    });
    // checks still in flight (a rate limit) decide whether the token leaves; a refused one is dropped unseen
    for (const p of pending) await p;
    const body: TokenResponseBody = { access_token: token, issued_token_type: TT_TXN_TOKEN, token_type: 'N_A', expires_in: exp - iat };
    const same = decision.granted.length === req.scopes.length;
    if (!same) body.scope = decision.granted.join(' ');
    return body;
  }

  #policyInput(sub: string, roles: readonly string[], attr: Readonly<Record<string, unknown>>, workload: string, chain: string[], req: ExchangeRequest): ScopePolicyInput {
    return { principal: { id: sub, roles, attr }, workload, chain, audience: req.audience, requestDetails: req.requestDetails, requestContext: req.requestContext };
  }

  #checkDepth(act: ActClaim): void {
    if (actDepth(act) > this.config.maxChainDepth) throw invalidRequest(`the workload chain would exceed ${this.config.maxChainDepth} hops (T-23)`);
  }

  /**
   * Starts the exchange's rate limits in one store call: per client, then per (client, `claimedSub`) when the
   * subject token names a sub. `claimedSub` is read without verification: it only chooses which counter to start
   * counting early. Its result is used only after validation, and only when the validated sub is the same string
   * (#subjectVerdict); otherwise the validated sub's counter is counted on its own. Consequence (documented): a
   * subject token that names a sub but fails validation still spends one unit of that (client, sub) budget, i.e. a
   * workload can only spend its own budget. As before, nothing is counted per subject when the client is refused.
   */
  #startLimits(workload: Workload, claimedSub: string | undefined): StartedLimits {
    const l = workload.config.rateLimit ?? this.config.defaultRateLimit;
    const windowMs = l.windowSeconds * 1000;
    const checks: RateLimitCheck[] = [{ key: `rl:c:${workload.id}`, limit: l.perClient, windowMs }];
    if (claimedSub !== undefined) checks.push({ key: `rl:${subjectLimitKey(workload.id, claimedSub)}`, limit: l.perSubject, windowMs });
    return { results: started(this.#rateLimitAll(checks)), claimedSub };
  }

  async #rateLimitAll(checks: readonly RateLimitCheck[]): Promise<RateLimitResult[]> {
    let r: RateLimitResult[];
    try {
      r = await rateLimitAll(this.store, checks);
    } catch (e) {
      if (e instanceof StoreUnavailableError) throw rateLimitUnavailable(e);
      throw e;
    }
    // a refusal ends the answer early; anything else shorter is a broken store: fail closed
    const last = r[r.length - 1];
    if (last === undefined || (r.length < checks.length && last.allowed)) throw rateLimitUnavailable(new StoreUnavailableError('rate limit answer is incomplete'));
    return r;
  }

  async #clientVerdict(limits: StartedLimits): Promise<void> {
    const [client] = await limits.results;
    if (client === undefined || !client.allowed) throw rateLimited(client);
  }

  /** The per-(client, subject) verdict for the VALIDATED `sub`: the early count when it was for the same sub, else a new count. */
  #subjectVerdict(limits: StartedLimits, workload: Workload, sub: string): Promise<void> {
    if (limits.claimedSub === sub) {
      return started(
        limits.results.then((r) => {
          const s = r[1];
          if (s === undefined || !s.allowed) throw rateLimited(s);
        }),
      );
    }
    const l = workload.config.rateLimit ?? this.config.defaultRateLimit;
    return started(this.#limit(subjectLimitKey(workload.id, sub), l.perSubject, l.windowSeconds));
  }

  async #limit(key: string, limit: number, windowSeconds: number): Promise<void> {
    let r;
    try {
      r = await this.store.rateLimit(`rl:${key}`, limit, windowSeconds * 1000);
    } catch (e) {
      if (e instanceof StoreUnavailableError) throw rateLimitUnavailable(e);
      throw e;
    }
    if (!r.allowed) throw rateLimited(r);
  }

  async #isRevoked(txn: string): Promise<boolean> {
    try {
      return await this.store.isRevoked(txn);
    } catch (e) {
      if (e instanceof StoreUnavailableError) {
        if (this.config.revocationFailOpen) return false;
        throw new OAuthError('temporarily_unavailable', 'revocation check unavailable; retry later', { cause: e });
      }
      throw e;
    }
  }

  /**
   * Every decision of the TTS goes through here: scrubbed and bounded by baton/log's `scrub` (the same as every hop's
   * lines: no token, no unbounded string), and a sink that throws never changes the decision.
   */
  #emit(e: Partial<DecisionEntry>): void {
    if (this.#onDecision === undefined) return;
    try {
      this.#onDecision(scrub({ time: this.#now().toISOString(), hop: 'tts', event: e.event ?? 'exchange', effect: e.effect ?? 'deny', ...e }) as DecisionEntry);
    } catch {
      /* a failing log sink never changes a decision */
    }
  }
}

interface StartedLimits {
  /** per client, then per (client, claimedSub) when there is one; rejects with an OAuthError */
  readonly results: Promise<RateLimitResult[]>;
  readonly claimedSub: string | undefined;
}

interface PeekedClaims {
  sub?: string | undefined;
  txn?: string | undefined;
}

function rateLimited(r: RateLimitResult | undefined): OAuthError {
  if (r === undefined) return rateLimitUnavailable(new StoreUnavailableError('rate limit answer is incomplete'));
  return new OAuthError('temporarily_unavailable', 'rate limit exceeded; retry later', { status: 429, headers: { 'Retry-After': String(r.retryAfterSec) } });
}

function rateLimitUnavailable(e: StoreUnavailableError): OAuthError {
  return new OAuthError('temporarily_unavailable', 'rate limit check unavailable; retry later', { cause: e });
}

/** The per-(workload, user) rate-limit key: the user part hashed, so any `sub` fits every backend's key limits. */
function subjectLimitKey(workload: string, sub: string): string {
  return `s:${workload}:${base64url.encode(sha256(new TextEncoder().encode(sub)))}`;
}

/** Starts a check now and awaits it later: a rejection is observed where it is awaited, never unhandled. */
function started<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Anything that is not already an OAuth error becomes one; store outages are 503, the rest is never echoed. */
export function toOAuthError(e: unknown): OAuthError {
  if (e instanceof OAuthError) return e;
  if (e instanceof StoreUnavailableError) return new OAuthError('temporarily_unavailable', 'a required store is unavailable; retry later', { cause: e });
  return new OAuthError('server_error', 'internal error', { cause: e });
}
