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
import { observedJwksFetch, observedStore, type Observer } from './ops/observe.js';
import { Reloadable } from './ops/reload.js';
import type { Engine } from './policy/index.js';
import { createApp, type AppOptions } from './server/app.js';
import { observeStages } from './trace/index.js';
import { MemoryStore } from './store/memory.js';
import type { Store } from './store/types.js';
import { ConfigError, trustDomainsOf } from './config/schema.js';
import type { PdpConfig } from './config/pdp.js';
import type { DecisionCallback } from './log/index.js';
import { createEngine, type PolicySource } from './policy/index.js';
import { catalogFrom, createPdp, createPdpApp, pdpOpenApi, type Pdp, type PdpDecisionEntry, type PdpPolicies } from './pdp/index.js';
import { createVerifier, type ServiceDecisionSink, type Verifier } from './verify/index.js';
import type { ScopeImplications } from './verify/authorize.js';

/**
 * What a server serves with and a reload replaces: the signing keys, the scope policy and the engine behind it (the
 * decision point, `baton pdp`, takes its engine from `serving.current.engine` on each request).
 */
export interface ServingSet {
  keys: SigningKeySet;
  policy: ScopePolicy | undefined;
  engine?: Engine | undefined;
  /** `sha256:...` of the policy documents, when known */
  policyHash?: string | undefined;
}

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
  /** the metrics (Node: prom-client); none: no `/metrics` */
  observer?: Observer | undefined;
  /** builds a new serving set from the files (Node); absent: this runtime never reloads (Workers) */
  reload?: (() => Promise<ServingSet>) | undefined;
  /** the engine and hash of the policy loaded at start, when the runtime knows them */
  engine?: Engine | undefined;
  policyHash?: string | undefined;
  say: (message: string) => void;
  /** how this runtime reads bodies and knows the caller's address */
  http: Omit<AppOptions, 'service'>;
  /** `pdp.mount: true`: the decision point's policy files (a directory on Node, the bundle on Workers) */
  loadPdpSources?: ((config: Config) => Promise<readonly PolicySource[]>) | undefined;
}

export interface Tts {
  app: Hono;
  service: TokenService;
  store: Store;
  config: Config;
  /** the keys and policies serving now, and their reloads (SIGHUP, --watch) */
  serving: Reloadable<ServingSet>;
  /** the decision point mounted beside the TTS (`pdp.mount: true`) */
  pdp?: ComposedPdp | undefined;
  /** the metrics observer the app reports to (none: no `/metrics`) */
  observer?: Observer | undefined;
}

/** Builds the TTS: the dev IdP trusted when configured, the store, the policy, the service and its HTTP app. */
export async function composeTts(p: RuntimeParts): Promise<Tts> {
  const config = p.config.dev.idp ? trustDevIdp(p, await p.devIdpJwks()) : p.config;
  const opened = p.store ?? (p.memoryStore ? new MemoryStore() : await p.openStore(config));
  const store = p.observer !== undefined ? observedStore(opened, p.observer) : opened;
  let service: TokenService;
  let initial: ServingSet;
  try {
    const policy = p.policy ?? (await p.loadPolicy(config));
    initial = { keys: p.keys, policy, engine: p.engine, policyHash: p.policyHash };
    service = await TokenService.create({
      config, keys: p.keys, store, policy, onDecision: p.onDecision,
      // counted from the drafts, not through the sink: a sink makes every entry stamped and scrubbed (and a denied
      // scope's deciding rule explained) on the exchange path, and wrapping the log's sink would defeat its rendering later
      ...(p.observer !== undefined ? { countDecision: p.observer.decision, jwksFetch: observedJwksFetch(p.observer) } : {}),
    });
  } catch (e) {
    if (p.store === undefined) await opened.close(); // do not leak the connections of a store opened here
    throw e;
  }
  const serving = new Reloadable<ServingSet>(initial, {
    load: p.reload ?? (() => Promise.reject(new Error('this runtime does not reload (a Worker is redeployed)'))),
    say: p.say,
    describe: (s) => `signing key ${s.keys.current.kid}${s.policyHash !== undefined ? `, policies ${s.policyHash.slice(0, 19)}` : ''}`,
  });
  serving.onSwap((s) => service.use(s));
  if (p.observer !== undefined) {
    p.observer.serving(() => ({ policyHash: serving.current.policyHash, signingKid: serving.current.keys.current.kid, status: serving.status() }));
    observeStages(p.observer.stage);
  }
  const mount = config.pdp?.mount === true;
  const app = createApp({ service, ...p.http, observer: p.observer, reloadStatus: () => serving.status(), openApiExtra: mount ? pdpOpenApi() : undefined });
  const pdp = mount && config.pdp !== undefined ? await mountPdp(p, config, config.pdp, service, store, app) : undefined;
  return { app, service, store, config, serving, ...(pdp !== undefined ? { pdp } : {}), ...(p.observer !== undefined ? { observer: p.observer } : {}) };
}

/** `pdp.mount: true`: the decision point's routes in the TTS's app, its Txn-Tokens checked with the TTS's own keys. */
async function mountPdp(p: RuntimeParts, config: Config, pdpConfig: PdpConfig, service: TokenService, store: Store, app: Hono): Promise<ComposedPdp> {
  const load = p.loadPdpSources;
  if (load === undefined) throw new ConfigError('pdp.mount: this runtime cannot load the decision point\'s policies');
  const composed = await composePdp({
    config: pdpConfig,
    loadSources: () => load(config),
    tts: { issuer: config.issuer, trustDomains: trustDomainsOf(config), jwks: () => service.keys.jwks(), implications: config.scopeImplications, store },
    onDecision: p.onDecision as DecisionCallback | undefined,
    say: p.say,
  });
  app.route('/', composed.app);
  return composed;
}

function trustDevIdp(p: RuntimeParts, jwks: { keys: readonly JWK[] }): Config {
  const config = withDevIdp(p.config, jwks, p.devIdpField);
  p.say(`dev IdP enabled: trusting ${DEV_IDP_ISSUER} (development only; set dev.idp: false in production)`);
  return config;
}

/** What a runtime read for the decision point: its settings and how to read the policies (again, on a reload). */
export interface PdpParts {
  config: PdpConfig;
  /** the policy files: a directory read on Node, the bundle's sources on Workers (called again on a reload) */
  loadSources: () => Promise<readonly PolicySource[]>;
  /** in `baton serve`: the TTS's issuer, trust domains, keys, implications and store fill what `pdp.txnToken` leaves out */
  tts?: { issuer: string; trustDomains: readonly string[]; jwks: () => { keys: readonly object[] }; implications: ScopeImplications; store: Store } | undefined;
  onDecision?: DecisionCallback | undefined;
  say: (message: string) => void;
}

export interface ComposedPdp {
  pdp: Pdp;
  app: Hono;
  /** reads the policies again and swaps them in at once (a failed load keeps the current ones and throws) */
  reload(): Promise<number>;
  close(): Promise<void>;
}

/** The engine and catalog of a set of policy files, with the decision point's engine settings. */
export function pdpPolicies(config: PdpConfig, sources: readonly PolicySource[]): PdpPolicies {
  const engine = createEngine({
    policies: sources,
    lenient: !config.strictEvaluation,
    globals: config.globals,
    defaultPolicyVersion: config.defaultPolicyVersion,
    lenientScopeSearch: config.lenientScopeSearch,
    schemaEnforcement: config.schemaEnforcement,
  });
  return { engine, catalog: catalogFrom(sources) };
}

function pdpVerifier(p: PdpParts): Verifier | undefined {
  const t = p.config.txnToken;
  const trustDomains = t?.trustDomains ?? p.tts?.trustDomains;
  const keys = t?.jwks !== undefined || t?.jwksUri !== undefined ? { jwks: t.jwks, jwksUri: t.jwksUri } : p.tts !== undefined ? { jwks: p.tts.jwks() } : undefined;
  if (trustDomains === undefined || keys === undefined) {
    if (t !== undefined) throw new ConfigError('pdp.txnToken: trustDomains and jwks (or jwksUri) are needed to verify Txn-Tokens');
    return undefined;
  }
  return createVerifier({
    trustDomain: trustDomains,
    issuer: t?.issuer ?? p.tts?.issuer,
    ...keys,
    ...(t?.algorithms !== undefined ? { algorithms: t.algorithms } : {}),
    ...(t?.clockTolerance !== undefined ? { clockTolerance: t.clockTolerance } : {}),
    ...(p.tts !== undefined ? { store: p.tts.store } : {}),
    service: p.config.service,
    onDecision: (p.onDecision ?? null) as ServiceDecisionSink | null,
  });
}

/** Builds the decision point: its policies (held, swapped whole on a reload), the Txn-Token verifier, the app. */
export async function composePdp(p: PdpParts): Promise<ComposedPdp> {
  const c = p.config;
  let current = pdpPolicies(c, await p.loadSources());
  p.say(`pdp: ${current.engine.policyCount} policies loaded`);
  const verifier = pdpVerifier(p);
  const pdp = createPdp({
    policies: () => current,
    limits: c.requestLimits,
    auxJwt: c.auxData.jwt,
    verifier,
    scopes: c.scopes,
    implications: c.scopeImplications ?? p.tts?.implications,
    routes: c.routes,
    service: c.service,
    onDecision: p.onDecision as DecisionCallback<PdpDecisionEntry> | undefined,
  });
  return {
    pdp,
    app: createPdpApp(pdp),
    async reload() {
      const next = pdpPolicies(c, await p.loadSources());
      current = next;
      p.say(`pdp: ${next.engine.policyCount} policies reloaded`);
      return next.engine.policyCount;
    },
    close: async () => verifier?.close(),
  };
}
