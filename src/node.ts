// The Node entry of the TTS: reads its environment (the configuration file, the key directory, the dev IdP's key file,
// $BATON_CONFIG) and hands it to the composition root (compose.ts), the same one the Workers entry uses; then serves
// the app on node:http (POST /token directly, every other route through @hono/node-server: server/node-listener.node.ts)
// and drains it on close (server/node-http.node.ts).
import { getConnInfo } from '@hono/node-server/conninfo';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadDevIdpKey, loadSigningKeys, loadSigningKeysStrict } from './cli/keys.js';
import { composePdp, composeTts, type ComposedPdp, type ServingSet, type Tts } from './compose.js';
import type { PdpFileConfig } from './config/pdp.js';
import type { DecisionCallback } from './log/index.js';
import { loadConfigFile, type LoadedConfig } from './config/load.node.js';
import { ConfigError, type Config } from './config/schema.js';
import type { DecisionSink } from './exchange/index.js';
import type { ScopePolicy } from './exchange/scope.js';
import { loadPolicySet } from './exchange/policy-scope.node.js';
import { installNodeJwsCrypto } from './jose/crypto.node.js';
import { createMetrics, type Metrics } from './ops/metrics.node.js';
import { watchAndReload } from './ops/watch.node.js';
import { advertisedEndpointProblem } from './server/advertised.js';
import { drainServer, readNodeBody, trackConnections, type DrainResult } from './server/node-http.node.js';
import { ttsRequestListener } from './server/node-listener.node.js';
import type { Store } from './store/types.js';

export { drainServer, readNodeBody, ttsRequestListener, type DrainResult };

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
  /** the Prometheus metrics served at `/metrics` (default: a new registry with the process metrics); false: none */
  metrics?: Metrics | false;
  /** reload when a file under the policy or key directory changes (development; SIGHUP is the production trigger) */
  watch?: boolean;
}

export type BatonNode = Tts;

const defaultSay = (m: string) => console.error(`baton: ${m}`);

/** The members of a parsed configuration object that have a value (zod gives absent options as `undefined`). */
function definedMembers<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}

/** The configured store other than memory: Redis (ioredis), its diagnostics (never URLs or secrets) going to `say`. */
async function openStore(config: Config, say: (m: string) => void): Promise<Store> {
  const { createStore } = await import('./store/from-url.node.js');
  const logger = (line: string): void => say(line);
  return createStore(typeof config.store === 'string' ? { url: config.store, logger } : { ...definedMembers(config.store), logger });
}

/** Builds the TTS from a configuration file: keys (a dev key when none), store, dev IdP, policies, app. */
export async function buildNode(o: NodeOptions = {}): Promise<BatonNode> {
  installNodeJwsCrypto();
  const say = o.say ?? defaultSay;
  const loaded = o.loaded ?? loadConfigFile(o.configPath ?? process.env.BATON_CONFIG ?? 'baton.config.yaml');
  const keysDir = loaded.resolvePath(loaded.config.keys);
  const config = { ...loaded.config, ...(o.port !== undefined ? { port: o.port } : {}), ...(o.host !== undefined ? { host: o.host } : {}) };
  const policyDir = o.policy === undefined && config.policies !== undefined ? loaded.resolvePath(config.policies) : undefined;
  const policySet = policyDir !== undefined ? loadPolicySet(policyDir, say) : undefined;
  // a reload reads both directories again; a given policy (tests, embedding) stays
  const reload = async (): Promise<ServingSet> => {
    const keys = await loadSigningKeysStrict(keysDir);
    const p = policyDir !== undefined ? loadPolicySet(policyDir, say) : undefined;
    return { keys, policy: o.policy ?? p?.policy, engine: p?.engine, policyHash: p?.hash };
  };
  const observer = o.metrics === false ? undefined : (o.metrics ?? createMetrics());
  return composeTts({
    config,
    keys: await loadSigningKeys(keysDir, config.signingAlg, { generateIfEmpty: true, say }),
    devIdpJwks: async () => (await loadDevIdpKey(keysDir)).publicJwks,
    store: o.store,
    memoryStore: config.store === 'memory',
    openStore: (c) => openStore(c, say),
    policy: o.policy ?? policySet?.policy,
    loadPolicy: async () => undefined,
    engine: policySet?.engine,
    policyHash: policySet?.hash,
    reload,
    observer,
    onDecision: o.onDecision,
    say,
    http: { readBody: readNodeBody, remoteAddr: (c) => connectionAddress(c) },
    loadPdpSources: async (c) => {
      const dir = c.pdp?.policies ?? c.policies;
      if (dir === undefined) throw new ConfigError('pdp.policies: the decision point needs a policy directory (pdp.policies, else policies)');
      return (await import('./policy/fs.node.js')).readPolicies(loaded.resolvePath(dir));
    },
  });
}

/** The directories a reload reads (for --watch): the keys, and the policies when configured. */
function servingDirs(loaded: LoadedConfig, c: Config): string[] {
  return [loaded.resolvePath(c.keys), ...(c.policies !== undefined ? [loaded.resolvePath(c.policies)] : [])];
}

function connectionAddress(c: Parameters<typeof getConnInfo>[0]): string | undefined {
  try {
    return getConnInfo(c).remote.address;
  } catch {
    return undefined;
  }
}

export interface RunningNode extends BatonNode {
  /** the HTTP server (node:http: POST /token directly, the rest through @hono/node-server) */
  server: HttpServer;
  url: string;
  /**
   * Drains (see `drainServer`, at most `drainTimeoutSeconds`, or `graceMs` when given), then closes the store.
   * Resolves with what the drain did.
   */
  close(o?: { graceMs?: number }): Promise<DrainResult>;
}

/**
 * Starts the TTS on Node (@hono/node-server). Port 0 picks a free port; `url` says which. When the metadata would
 * advertise endpoints on this machine (an http loopback issuer or baseUrl) at another port or address than the one the
 * server listens on, it refuses to start (ConfigError saying why) before anything is built. With port 0 the caller
 * chose an unknown port and takes the URL from `url`: not checked.
 */
export async function startNode(o: NodeOptions = {}): Promise<RunningNode> {
  const loaded = o.loaded ?? loadConfigFile(o.configPath ?? process.env.BATON_CONFIG ?? 'baton.config.yaml');
  const listen = { host: o.host ?? loaded.config.host, port: o.port ?? loaded.config.port };
  if (listen.port !== 0) {
    const problem = advertisedEndpointProblem(loaded.config, listen);
    if (problem !== undefined) throw new ConfigError(problem);
  }
  const built = await buildNode({ ...o, loaded });
  const say = o.say ?? defaultSay;
  const { config } = built;
  let server: HttpServer;
  try {
    server = await new Promise<HttpServer>((resolveServer, reject) => {
      // POST /token on node:http directly, every other route through @hono/node-server (server/node-listener.node.ts)
      const s = createServer(ttsRequestListener({ service: built.service, app: built.app, observer: built.observer, hostname: config.host }));
      trackConnections(s);
      s.once('error', reject);
      s.listen(config.port, config.host, () => resolveServer(s));
    });
  } catch (e) {
    // A store this node opened (e.g. Redis connections) must not keep the process alive after a failed start.
    if (o.store === undefined) await built.store.close();
    throw e;
  }
  const watching = o.watch === true ? watchAndReload(servingDirs(loaded, config), (t) => built.serving.reload(t), { say }) : undefined;
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    ...built,
    server,
    url: `http://${host}:${addr.port}`,
    close: async (c = {}) => {
      watching?.close();
      const r = await drainServer(server, c.graceMs ?? config.drainTimeoutSeconds * 1000, say).done;
      await built.store.close();
      return r;
    },
  };
}

export interface PdpNodeOptions {
  /** the decision point's settings (`baton pdp --config FILE`, validated by pdpFileSchema) */
  config: PdpFileConfig;
  /** the policy directory (absolute, or relative to the working directory) */
  policies: string;
  onDecision?: DecisionCallback | undefined;
  say?: (message: string) => void;
}

export interface RunningPdp extends Omit<ComposedPdp, 'close'> {
  server: HttpServer;
  url: string;
  close(o?: { graceMs?: number }): Promise<DrainResult>;
}

/** `baton pdp`: the decision point alone on Node (@hono/node-server), like `cerbos server`. Port 0 picks a free port. */
export async function startPdp(o: PdpNodeOptions): Promise<RunningPdp> {
  installNodeJwsCrypto();
  const say = o.say ?? defaultSay;
  const { readPolicies } = await import('./policy/fs.node.js');
  const composed = await composePdp({ config: o.config, loadSources: async () => readPolicies(o.policies), onDecision: o.onDecision, say });
  let server: HttpServer;
  try {
    const { pdpRequestListener } = await import('./pdp/node-http.node.js');
    server = await new Promise<HttpServer>((resolveServer, reject) => {
      // the POST endpoints read and answer on node:http directly; the rest goes to the same hono app
      const s = createServer(pdpRequestListener(composed.pdp, composed.app));
      trackConnections(s);
      s.once('error', reject);
      s.listen(o.config.port, o.config.host, () => resolveServer(s));
    });
  } catch (e) {
    await composed.close();
    throw e;
  }
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    ...composed,
    server,
    url: `http://${host}:${addr.port}`,
    close: async (c = {}) => {
      const r = await drainServer(server, c.graceMs ?? 10_000, say).done;
      await composed.close();
      return r;
    },
  };
}
