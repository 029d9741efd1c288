import { createLocalJWKSet, type JWTVerifyGetKey } from 'jose';
import type { Config, RateLimitConfig } from '../config/schema.js';
import { trustDomainsOf } from '../config/schema.js';
import { verifyTxnToken, type SigningKeySet } from '../jose/index.js';
import { decisionLog, type DecisionCallback, type DecisionLog, type DecisionRecord } from '../log/index.js';
import type { Store } from '../store/types.js';
import type { TxnTokenClaims } from '../txn/index.js';
import { authenticateClient, prepareWorkload, type Workload } from './client-auth.js';
import { readClientCredentials } from './request.js';
import type { ScopeDecision, ScopePolicy } from './scope.js';
import { prepareIssuer, type TrustedIssuer } from './subject.js';
import { CryptoOffload } from './offload.js';

/** One structured line per TTS decision; never a raw token (V-11). The TTS's narrowing of the log's one record type. */
export interface DecisionEntry extends DecisionRecord {
  hop: 'tts';
  event: 'exchange' | 'replace' | 'revoke';
  effect: 'grant' | 'deny';
  audience?: string | undefined;
  requested?: string[] | undefined;
  granted?: string[] | undefined;
  dropped?: ScopeDecision['dropped'] | undefined;
  chain?: string[] | undefined;
}
export type DecisionSink = DecisionCallback<DecisionEntry>;

export interface TokenServiceOptions {
  config: Config;
  keys: SigningKeySet;
  store: Store;
  policy?: ScopePolicy | undefined;
  onDecision?: DecisionSink | undefined;
  /** counts each decision as emitted, from its draft (the metrics; see `count` of `decisionLog`) */
  countDecision?: ((hop: string, draft: object) => void) | undefined;
  /** the fetch of subject issuers' JWKS (the metrics count fetches through it) */
  jwksFetch?: ((input: URL, init: RequestInit) => Promise<Response>) | undefined;
  now?: () => Date;
}

/**
 * What every step of the exchange is given: the configuration prepared once (workloads with their keys and digested
 * secrets, trusted issuers with their key sets, the trust domains), the signing keys, the store, the scope policy, the
 * clock and the decision log. Steps take the part they need (`Pick<TtsContext, ...>`), so each runs alone in a test.
 */
export interface TtsContext {
  readonly config: Config;
  readonly keys: SigningKeySet;
  readonly store: Store;
  readonly policy: ScopePolicy | undefined;
  readonly trustDomains: readonly string[];
  readonly workloads: ReadonlyMap<string, Workload>;
  readonly issuers: ReadonlyMap<string, TrustedIssuer>;
  /** the TTS's own keys, for Txn-Tokens presented for replacement or revocation */
  readonly ownKeys: JWTVerifyGetKey;
  readonly now: () => Date;
  readonly log: DecisionLog<DecisionEntry>;
  /** exchanges in flight, and where their signatures are computed (offload.ts) */
  readonly offload: CryptoOffload;
}

export async function prepareTts(o: TokenServiceOptions): Promise<TtsContext> {
  const workloads = new Map<string, Workload>();
  for (const c of o.config.clients) workloads.set(c.id, await prepareWorkload(c));
  const issuers = new Map<string, TrustedIssuer>();
  for (const s of o.config.subjectIssuers) issuers.set(s.issuer, prepareIssuer(s, { clockSkew: o.config.clockSkew, ...(o.jwksFetch !== undefined ? { jwksFetch: o.jwksFetch } : {}) }));
  const now = o.now ?? (() => new Date());
  return {
    config: o.config,
    keys: o.keys,
    store: o.store,
    policy: o.policy,
    trustDomains: trustDomainsOf(o.config),
    workloads,
    issuers,
    ownKeys: createLocalJWKSet(o.keys.jwks()),
    now,
    log: decisionLog<DecisionEntry>({ hop: 'tts', sink: o.onDecision, now, count: o.countDecision }),
    offload: new CryptoOffload(),
  };
}

/** Verifies a Txn-Token issued by this TTS exactly as a receiving service would (R-01, V-02..V-07). */
export async function verifyOwnTxnToken(ctx: Pick<TtsContext, 'ownKeys' | 'config' | 'trustDomains' | 'now'>, token: string): Promise<TxnTokenClaims> {
  const { claims } = await verifyTxnToken(token, {
    getKey: ctx.ownKeys,
    algorithms: ['EdDSA', 'ES256'],
    clockSkew: ctx.config.clockSkew,
    audiences: ctx.trustDomains,
    issuer: ctx.config.issuer,
    currentDate: ctx.now(),
  });
  return claims;
}

/** The rate limits of a workload: its own, else the configured default. */
export function rateLimitOf(ctx: Pick<TtsContext, 'config'>, workload: Workload): RateLimitConfig {
  return workload.config.rateLimit ?? ctx.config.defaultRateLimit;
}

/** The seconds-since-epoch of the service clock. */
export function nowSeconds(ctx: Pick<TtsContext, 'now'>): number {
  return Math.floor(ctx.now().getTime() / 1000);
}

/** The decision entry a request builds as its steps learn who and what (emitted once, as a grant or a denial). */
export type EntryDraft = Omit<DecisionEntry, 'time' | 'hop' | 'effect'>;

/**
 * Authenticates the workload of a request (/token and /revoke, T-08): the credentials of the form or the
 * Authorization header, checked against the prepared workloads.
 */
export function authenticateWorkload(ctx: Pick<TtsContext, 'workloads' | 'config' | 'store' | 'now'>, params: Map<string, string>, authorization: string | undefined): Promise<Workload> {
  return authenticateClient(
    { workloads: ctx.workloads, issuer: ctx.config.issuer, store: ctx.store, clockSkew: ctx.config.clockSkew, currentDate: ctx.now },
    authorization,
    readClientCredentials(params),
  );
}
