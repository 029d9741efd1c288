import { createLocalJWKSet, type JWTVerifyGetKey } from 'jose';
import type { Config } from '../config/schema.js';
import type { SigningKeySet } from '../jose/index.js';
import type { Store } from '../store/types.js';
import type { TxnTokenClaims } from '../txn/index.js';
import type { Workload } from './client-auth.js';
import { authenticateWorkload, prepareTts, verifyOwnTxnToken, type TokenServiceOptions, type TtsContext } from './context.js';
import { exchange, type ExchangeInput, type InputSource, type RequestMeta } from './exchange.js';
import type { TokenResponseBody } from './mint.js';
import { revoke, type RevokeInput } from './revoke.js';
import type { ScopePolicy } from './scope.js';
import type { TrustedIssuer } from './subject.js';

export { MAX_VERIFIER_CLOCK_TOLERANCE } from './revoke.js';
export type { DecisionEntry, DecisionSink, TokenServiceOptions, TtsContext } from './context.js';
export type { ExchangeInput, InputSource, RequestMeta } from './exchange.js';
export type { TokenResponseBody } from './mint.js';
export type { RevokeInput } from './revoke.js';

/** What a reload replaces: the signing keys and the scope policy (the configuration stays). */
export interface ServingParts {
  keys: SigningKeySet;
  policy: ScopePolicy | undefined;
}

/**
 * The TTS as one object for the entry points and the server: its prepared context and the two operations. The logic is
 * in the steps (exchange.ts, revoke.ts and the modules they call); this class only holds the context, and swaps it
 * whole on a reload (`use`): a request reads the context once when it starts and finishes on it.
 */
export class TokenService {
  #context: TtsContext;

  private constructor(context: TtsContext) {
    this.#context = context;
  }

  /** The context requests start on now. */
  get context(): TtsContext {
    return this.#context;
  }

  /** Serves new keys and policy from the next request on (one assignment: requests in flight keep theirs). */
  use(parts: ServingParts): void {
    this.#context = { ...this.#context, keys: parts.keys, policy: parts.policy, ownKeys: createLocalJWKSet(parts.keys.jwks()) };
  }

  static async create(o: TokenServiceOptions): Promise<TokenService> {
    return new TokenService(await prepareTts(o));
  }

  get config(): Config {
    return this.context.config;
  }
  get keys(): SigningKeySet {
    return this.context.keys;
  }
  get store(): Store {
    return this.context.store;
  }
  get trustDomains(): readonly string[] {
    return this.context.trustDomains;
  }
  get workloads(): ReadonlyMap<string, Workload> {
    return this.context.workloads;
  }
  get issuers(): ReadonlyMap<string, TrustedIssuer> {
    return this.context.issuers;
  }
  get ownKeys(): JWTVerifyGetKey {
    return this.context.ownKeys;
  }

  exchange(input: InputSource<ExchangeInput>, meta?: RequestMeta): Promise<TokenResponseBody> {
    return exchange(this.#context, input, meta);
  }

  revoke(input: InputSource<RevokeInput>, meta?: RequestMeta): Promise<void> {
    return revoke(this.#context, input, meta);
  }

  /** Authenticates the workload of a request (shared by /token and /revoke). */
  authenticate(params: Map<string, string>, authorization: string | undefined): Promise<Workload> {
    return authenticateWorkload(this.context, params, authorization);
  }

  /** Verifies a Txn-Token issued by this TTS exactly as a receiving service would (R-01, V-02..V-07). */
  verifyOwnTxnToken(token: string): Promise<TxnTokenClaims> {
    return verifyOwnTxnToken(this.context, token);
  }
}
