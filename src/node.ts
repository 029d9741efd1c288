import { serve, type ServerType } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { AddressInfo } from 'node:net';
import { loadConfigFile, type LoadedConfig } from './config/load.node.js';
import { subjectIssuerSchema, type Config } from './config/schema.js';
import { loadDevIdpKey, loadSigningKeys, DEV_IDP_ISSUER } from './cli/keys.js';
import { TokenService, type DecisionSink } from './exchange/index.js';
import type { ScopePolicy } from './exchange/scope.js';
import { bodyTooLarge, createApp, MAX_BODY_BYTES, readFetchBody } from './server/app.js';
import type { HttpBindings } from '@hono/node-server';
import type { Context } from 'hono';
import { installNodeJwsCrypto } from './jose/crypto.node.js';
import { MemoryStore } from './store/memory.js';
import type { Store } from './store/types.js';
import type { Hono } from 'hono';

export interface NodeOptions {
  /** a loaded configuration; otherwise read from `configPath` */
  loaded?: LoadedConfig;
  configPath?: string;
  /** overrides of the configuration (tests, CLI flags) */
  port?: number;
  host?: string;
  store?: Store;
  policy?: ScopePolicy;
  onDecision?: DecisionSink;
  say?: (message: string) => void;
}

export interface BatonNode {
  app: Hono;
  service: TokenService;
  store: Store;
  config: Config;
}

/** Adds the local development IdP as a trusted subject issuer (dev.idp: true only). */
async function withDevIdp(config: Config, keysDir: string, say: (m: string) => void): Promise<Config> {
  if (!config.dev.idp) return config;
  const { publicJwks } = await loadDevIdpKey(keysDir);
  const audiences = [...new Set(config.clients.flatMap((c) => c.subjectAudiences))];
  say(`dev IdP enabled: trusting ${DEV_IDP_ISSUER} (development only; set dev.idp: false in production)`);
  const devIssuer = subjectIssuerSchema.parse({
    issuer: DEV_IDP_ISSUER,
    jwks: publicJwks,
    audiences: audiences.length > 0 ? audiences : ['urn:baton:dev'],
    algorithms: ['EdDSA'],
    rolesClaim: 'roles',
    principalAttributes: ['email', 'tenant'],
  });
  return { ...config, subjectIssuers: [...config.subjectIssuers.filter((s) => s.issuer !== DEV_IDP_ISSUER), devIssuer] };
}

/**
 * The configured store. Redis diagnostics (connection lost, resync failed; never URLs or secrets) go to `say`,
 * like every other operator message, instead of straight to the console.
 */
async function storeFor(config: Config, say: (m: string) => void): Promise<Store> {
  if (config.store === 'memory') return new MemoryStore();
  const { createStore } = await import('./store/from-url.node.js');
  const logger = (line: string): void => say(line);
  const spec = typeof config.store === 'string' ? { url: config.store, logger } : { ...config.store, logger };
  return createStore(spec);
}

async function policyFor(config: Config, resolvePath: (p: string) => string, say: (m: string) => void): Promise<ScopePolicy | undefined> {
  if (config.policies === undefined) return undefined;
  const mod = (await import('./exchange/policy-scope.node.js')) as { loadScopePolicy(dir: string, say: (m: string) => void): Promise<ScopePolicy> };
  return mod.loadScopePolicy(resolvePath(config.policies), say);
}

/** Builds the TTS from a configuration: keys (a dev key when none), store, dev IdP, policies, app. */
export async function buildNode(o: NodeOptions = {}): Promise<BatonNode> {
  installNodeJwsCrypto();
  const say = o.say ?? ((m: string) => console.error(`baton: ${m}`));
  const loaded = o.loaded ?? loadConfigFile(o.configPath ?? process.env.BATON_CONFIG ?? 'baton.config.yaml');
  const keysDir = loaded.resolvePath(loaded.config.keys);
  const keys = await loadSigningKeys(keysDir, loaded.config.signingAlg, { generateIfEmpty: true, say });
  let config = await withDevIdp(loaded.config, keysDir, say);
  if (o.port !== undefined) config = { ...config, port: o.port };
  if (o.host !== undefined) config = { ...config, host: o.host };
  const store = o.store ?? (await storeFor(config, say));
  let policy: ScopePolicy | undefined;
  let service: TokenService;
  try {
    policy = o.policy ?? (await policyFor(config, loaded.resolvePath, say));
    service = await TokenService.create({ config, keys, store, policy, onDecision: o.onDecision });
  } catch (e) {
    if (o.store === undefined) await store.close(); // do not leak the connections of a store this node opened
    throw e;
  }
  const app = createApp({
    service,
    readBody: readNodeBody,
    remoteAddr: (c) => {
      try {
        return getConnInfo(c).remote.address;
      } catch {
        return undefined;
      }
    },
  });
  return { app, service, store, config };
}

/**
 * Reads the body straight from Node's IncomingMessage (no Fetch Request, no web stream), at most MAX_BODY_BYTES.
 * Falls back to the Fetch API when the app is not served by @hono/node-server (e.g. `app.fetch` in tests).
 */
export async function readNodeBody(c: Context): Promise<string> {
  const incoming = (c.env as Partial<HttpBindings> | undefined)?.incoming;
  if (incoming === undefined) return readFetchBody(c);
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        cleanup();
        incoming.resume(); // drain the rest without keeping it
        reject(bodyTooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks, size).toString('utf8'));
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    const cleanup = () => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
    };
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onError);
  });
}

export interface RunningNode extends BatonNode {
  server: ServerType;
  url: string;
  close(): Promise<void>;
}

/** Starts the TTS on Node (@hono/node-server). Port 0 picks a free port; `url` says which. */
export async function startNode(o: NodeOptions = {}): Promise<RunningNode> {
  const built = await buildNode(o);
  const { config } = built;
  let server: ServerType;
  try {
    server = await new Promise<ServerType>((resolveServer, reject) => {
      const s = serve({ fetch: built.app.fetch, port: config.port, hostname: config.host }, () => resolveServer(s));
      s.once('error', reject);
    });
  } catch (e) {
    // A store this node opened (e.g. Redis connections) must not keep the process alive after a failed start.
    if (o.store === undefined) await built.store.close();
    throw e;
  }
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    ...built,
    server,
    url: `http://${host}:${addr.port}`,
    close: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      await built.store.close();
    },
  };
}
