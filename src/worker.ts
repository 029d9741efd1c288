// The Cloudflare Workers entry: reads the Worker's environment (bindings, secrets, the bundled policies) and hands it
// to the composition root (compose.ts), the same one Node uses: the SAME hono app and TokenService. Built once per
// isolate, on the first request. Workers-safe: no Node API on this path.
//
// Environment (wrangler.toml [vars] + `wrangler secret put`):
//   BATON_CONFIG         [var]    the configuration as JSON, validated by the same zod schema as baton.config.yaml
//                                 (same error messages). `${VAR}` in any string is replaced by the binding VAR
//                                 (client secrets: put them as secrets and write "secret": "${BATON_CLIENT_SECRET_X}").
//                                 `keys` is ignored (keys come from BATON_SIGNING_KEYS); `store` must be left unset
//                                 (the store is chosen below); `policies` set = use the bundled policies.
//   BATON_SIGNING_KEYS   [secret] a JSON array of private JWKs (EdDSA/Ed25519 or ES256/P-256, each with a kid), or one
//                                 JWK. The greatest kid signs; the others stay published in the JWKS (rotation).
//   BATON_STORE          [var]    "durable-object" (default: the BATON_STORE_DO binding) or "memory" (one isolate only:
//                                 single-use ids and revocations are NOT shared between isolates; dev runs only).
//   BATON_STORE_DO       [binding] the BatonStoreDO namespace (wrangler.toml [[durable_objects.bindings]]).
//   BATON_STORE_SHARDS   [var]    optional, number of BatonStoreDO objects keys are spread over (default 1).
//   BATON_DEV_IDP_JWKS   [var]    only with `dev.idp: true`: the dev IdP's PUBLIC JWKS (`{"keys":[...]}`), since its key
//                                 files live on a Node machine. Without it, `dev.idp: true` is refused.
//   BATON_DECISION_LOG   [var]    "off" to silence the one-JSON-line-per-decision log (console.log).
// Policies: `config.policies` set => the policy bundle imported below (built by `baton policy build policies --out
// policies.bundle.json`, run by `npm run build:worker` and by wrangler's [build] step) decides scopes.
//
// A misconfigured Worker never crashes: it logs the problem once per isolate and answers every request
// 503 {"error":"temporarily_unavailable","error_description":"Baton is misconfigured: <FIELD>: <message>"}.
import bundledPolicies from '../policies.bundle.json';
import { composeTts, type Tts } from './compose.js';
import { ConfigError, parseConfig, substituteEnv, type Config } from './config/schema.js';
import type { DecisionSink } from './exchange/index.js';
import { engineScopePolicy } from './exchange/policy-scope.js';
import type { ScopePolicy } from './exchange/scope.js';
import { SigningKeySet, toPublicJwk } from './jose/keys.js';
import { createDecisionLogger } from './log/index.js';
import { loadPolicyBundle, PolicyBundleError } from './policy-bundle/index.js';
import { DurableObjectStore, type DurableObjectNamespaceLike } from './store/durable-object.js';
import type { JWK } from 'jose';

export { BatonStoreDO } from './store/durable-object.js';

export interface WorkerEnv {
  BATON_CONFIG?: string;
  BATON_SIGNING_KEYS?: string;
  BATON_STORE?: string;
  BATON_STORE_DO?: DurableObjectNamespaceLike;
  BATON_STORE_SHARDS?: string;
  BATON_DEV_IDP_JWKS?: string;
  BATON_DECISION_LOG?: string;
  [binding: string]: unknown;
}

export interface BatonWorker extends Tts {
  policyHash?: string;
}

function bad(field: string, message: string): ConfigError {
  return new ConfigError(`${field}: ${message}`);
}

/** JSON.parse without echoing the input: V8's messages quote part of it, and secrets must never reach a log. */
function parseJson(text: string, field: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const at = /position \d+/.exec((e as Error).message);
    throw bad(field, `not valid JSON${at ? ` (at ${at[0]})` : ''}`);
  }
}

function stringBindings(env: WorkerEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (typeof v === 'string') out[k] = v;
  return out;
}

function readConfig(env: WorkerEnv): Config {
  if (env.BATON_CONFIG === undefined || env.BATON_CONFIG.trim() === '')
    throw bad('BATON_CONFIG', 'not set (the configuration as JSON in wrangler.toml [vars])');
  const raw = parseJson(env.BATON_CONFIG, 'BATON_CONFIG');
  const config = parseConfig(substituteEnv(raw, stringBindings(env), 'BATON_CONFIG'), 'BATON_CONFIG');
  if (config.store !== 'memory')
    throw bad('BATON_CONFIG: store', 'Redis is not available on Workers; leave store unset (the BatonStoreDO Durable Object is used) or set BATON_STORE=memory');
  return config;
}

async function readSigningKeys(env: WorkerEnv): Promise<SigningKeySet> {
  const text = env.BATON_SIGNING_KEYS;
  if (text === undefined || text.trim() === '')
    throw bad('BATON_SIGNING_KEYS', 'not set (wrangler secret put BATON_SIGNING_KEYS: a JSON array of private JWKs, or one JWK)');
  const v = parseJson(text, 'BATON_SIGNING_KEYS');
  const list = Array.isArray(v) ? v : v !== null && typeof v === 'object' && Array.isArray((v as { keys?: unknown }).keys) ? (v as { keys: unknown[] }).keys : [v];
  if (list.length === 0) throw bad('BATON_SIGNING_KEYS', 'no key');
  list.forEach((k, i) => {
    if (k === null || typeof k !== 'object' || Array.isArray(k)) throw bad(`BATON_SIGNING_KEYS[${i}]`, 'not a JWK object');
  });
  try {
    return await SigningKeySet.fromJwks(list as JWK[]);
  } catch (e) {
    throw bad('BATON_SIGNING_KEYS', (e as Error).message);
  }
}

/** `dev.idp: true` on Workers: the dev IdP's public JWKS must be given in BATON_DEV_IDP_JWKS (no key files here). */
function readDevIdpJwks(env: WorkerEnv): { keys: JWK[] } {
  if (env.BATON_DEV_IDP_JWKS === undefined || env.BATON_DEV_IDP_JWKS.trim() === '')
    throw bad(
      'BATON_CONFIG: dev.idp',
      'the dev IdP signs with a key file of a Node machine (keys/dev-idp/); on Workers set dev.idp: false, or give its public JWKS in BATON_DEV_IDP_JWKS',
    );
  const v = parseJson(env.BATON_DEV_IDP_JWKS, 'BATON_DEV_IDP_JWKS');
  const keys = v !== null && typeof v === 'object' ? (v as { keys?: unknown }).keys : undefined;
  if (!Array.isArray(keys) || keys.length === 0) throw bad('BATON_DEV_IDP_JWKS', 'must be a JWKS: {"keys":[...]}');
  keys.forEach((k, i) => {
    if (k === null || typeof k !== 'object') throw bad(`BATON_DEV_IDP_JWKS.keys[${i}]`, 'not a JWK object');
    const pub = toPublicJwk(k as JWK);
    if (Object.keys(pub).length !== Object.keys(k).length) throw bad(`BATON_DEV_IDP_JWKS.keys[${i}]`, 'holds private key material: give public keys only');
  });
  return { keys: keys as JWK[] };
}

/** BATON_STORE: the Durable Object (default), or `memory` (one isolate only: dev runs). */
function storeKind(env: WorkerEnv): 'memory' | 'durable-object' {
  const kind = env.BATON_STORE ?? 'durable-object';
  if (kind !== 'memory' && kind !== 'durable-object') throw bad('BATON_STORE', `must be "durable-object" or "memory", not ${JSON.stringify(kind.slice(0, 40))}`);
  return kind;
}

function durableObjectStore(env: WorkerEnv): DurableObjectStore {
  const ns = env.BATON_STORE_DO;
  if (ns === undefined || typeof ns !== 'object' || typeof ns.idFromName !== 'function')
    throw bad('BATON_STORE_DO', 'Durable Object binding missing (wrangler.toml [[durable_objects.bindings]] class_name = "BatonStoreDO"); or set BATON_STORE=memory for a single-isolate dev run');
  let shards = 1;
  if (env.BATON_STORE_SHARDS !== undefined) {
    shards = Number(env.BATON_STORE_SHARDS);
    if (!Number.isInteger(shards) || shards < 1 || shards > 1024) throw bad('BATON_STORE_SHARDS', 'must be an integer from 1 to 1024');
  }
  return new DurableObjectStore(ns, { shards });
}

async function bundlePolicy(bundle: unknown, say: (m: string) => void): Promise<{ policy: ScopePolicy; hash: string }> {
  try {
    const loaded = await loadPolicyBundle(bundle);
    say(`policies: ${loaded.policyCount} loaded from the bundle of ${loaded.source || '(unknown dir)'} ${loaded.hash}`);
    return { policy: engineScopePolicy(loaded.engine), hash: loaded.hash };
  } catch (e) {
    if (e instanceof PolicyBundleError) throw new ConfigError(e.message);
    throw e;
  }
}

/** Builds the TTS from a Worker environment and a policy bundle. Throws ConfigError naming the field. */
export async function buildWorker(env: WorkerEnv, bundle: unknown, say: (m: string) => void = (m) => console.log(`baton: ${m}`)): Promise<BatonWorker> {
  const config = readConfig(env);
  const keys = await readSigningKeys(env);
  const memory = storeKind(env) === 'memory';
  let hash: string | undefined;
  // rendered by baton/log as every hop's lines: scrubbed, bounded, one line each
  const onDecision: DecisionSink | undefined = env.BATON_DECISION_LOG === 'off' ? undefined : createDecisionLogger().sink;
  const tts = await composeTts({
    config,
    keys,
    devIdpJwks: () => readDevIdpJwks(env),
    devIdpField: 'BATON_DEV_IDP_JWKS',
    memoryStore: memory,
    openStore: () => durableObjectStore(env),
    loadPolicy: async (c) => {
      if (c.policies === undefined) return undefined;
      const b = await bundlePolicy(bundle, say);
      hash = b.hash;
      return b.policy;
    },
    onDecision,
    say,
    http: { remoteAddr: (c) => c.req.header('cf-connecting-ip') ?? undefined },
    // `pdp.mount: true`: the decision point decides with the same bundled policies
    loadPdpSources: async () => {
      try {
        return (await loadPolicyBundle(bundle)).sources;
      } catch (e) {
        throw e instanceof PolicyBundleError ? new ConfigError(e.message) : e;
      }
    },
  });
  return { ...tts, ...(hash !== undefined ? { policyHash: hash } : {}) };
}

function misconfigured(message: string): Response {
  return Response.json(
    { error: 'temporarily_unavailable', error_description: `Baton is misconfigured: ${message.split('\n').join('; ')}` },
    { status: 503, headers: { 'Cache-Control': 'no-store' } },
  );
}

export interface WorkerHandler {
  fetch(request: Request, env: WorkerEnv, ctx?: unknown): Promise<Response>;
}

/**
 * A Worker `{ fetch }` over a given policy bundle. The TTS is built on the first request and kept for the isolate's
 * life; a configuration error is kept too (a Worker's vars and secrets only change with a new deployment, i.e. a new
 * isolate), logged once, and answered with 503 on every request.
 */
export function createWorker(bundle: unknown): WorkerHandler {
  let built: Promise<BatonWorker> | undefined;
  return {
    async fetch(request, env, ctx) {
      if (built === undefined) {
        built = buildWorker(env, bundle);
        built.catch((e: unknown) => {
          console.error(`baton: ${e instanceof ConfigError ? 'configuration error' : 'cannot start'}: ${(e as Error).message}`);
        });
      }
      let w: BatonWorker;
      try {
        w = await built;
      } catch (e) {
        return misconfigured(e instanceof ConfigError ? e.message : 'unexpected error while starting (see the Worker log)');
      }
      return w.app.fetch(request, env, ctx as never);
    },
  };
}

export default createWorker(bundledPolicies);
