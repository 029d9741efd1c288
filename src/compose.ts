/**
 * The composition root of the TTS: the one place where the pieces are put together, for Node (node.ts) and for
 * Workers (worker.ts) alike. The runtimes only read their environment (files and process env on Node, bindings on
 * Workers) and hand over what they read; everything decided from the configuration is decided here, once.
 */
import type { Hono } from 'hono';
import type { JWK } from 'jose';
import type { Config } from './config/schema.js';
import { DEV_IDP_ISSUER, withDevIdp } from './dev-idp.js';
import { TokenService, type DecisionSink } from './exchange/index.js';
import type { ScopePolicy } from './exchange/scope.js';
import type { SigningKeySet } from './jose/keys.js';
import { createApp, type AppOptions } from './server/app.js';
import { MemoryStore } from './store/memory.js';
import type { Store } from './store/types.js';

/** What a runtime read from its environment. */
export interface RuntimeParts {
  config: Config;
  keys: SigningKeySet;
  /** `dev.idp: true` only: the dev IdP's public keys (its key file on Node, `BATON_DEV_IDP_JWKS` on Workers) */
  devIdpJwks: () => Promise<{ keys: readonly JWK[] }> | { keys: readonly JWK[] };
  /** the setting named when the dev IdP's keys are refused (default `dev.idp`) */
  devIdpField?: string | undefined;
  /** a store given by the caller (tests, embedding), used as it is and never closed here */
  store?: Store | undefined;
  /** the runtime's own store when the configuration does not name memory (Redis on Node, the Durable Object on Workers) */
  openStore: (config: Config) => Promise<Store> | Store;
  /** whether the runtime's store is the memory store (Node: `store: memory`; Workers: `BATON_STORE=memory`) */
  memoryStore: boolean;
  /** the scope policy given by the caller, else the runtime loads the configured one (a directory, a bundle) */
  policy?: ScopePolicy | undefined;
  loadPolicy: (config: Config) => Promise<ScopePolicy | undefined>;
  onDecision?: DecisionSink | undefined;
  say: (message: string) => void;
  /** how this runtime reads bodies and knows the caller's address */
  http: Omit<AppOptions, 'service'>;
}

export interface Tts {
  app: Hono;
  service: TokenService;
  store: Store;
  config: Config;
}

/** Builds the TTS: the dev IdP trusted when configured, the store, the policy, the service and its HTTP app. */
export async function composeTts(p: RuntimeParts): Promise<Tts> {
  const config = p.config.dev.idp ? trustDevIdp(p, await p.devIdpJwks()) : p.config;
  const store = p.store ?? (p.memoryStore ? new MemoryStore() : await p.openStore(config));
  let service: TokenService;
  try {
    const policy = p.policy ?? (await p.loadPolicy(config));
    service = await TokenService.create({ config, keys: p.keys, store, policy, onDecision: p.onDecision });
  } catch (e) {
    if (p.store === undefined) await store.close(); // do not leak the connections of a store opened here
    throw e;
  }
  return { app: createApp({ service, ...p.http }), service, store, config };
}

function trustDevIdp(p: RuntimeParts, jwks: { keys: readonly JWK[] }): Config {
  const config = withDevIdp(p.config, jwks, p.devIdpField);
  p.say(`dev IdP enabled: trusting ${DEV_IDP_ISSUER} (development only; set dev.idp: false in production)`);
  return config;
}
