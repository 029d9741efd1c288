import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { Server as NetServer, type AddressInfo, type Socket } from 'node:net';
import { loadConfigFile, type LoadedConfig } from './config/load.node.js';
import { ConfigError, subjectIssuerSchema, type Config } from './config/schema.js';
import { loadDevIdpKey, loadSigningKeys, DEV_IDP_ISSUER } from './cli/keys.js';
import { TokenService, type DecisionSink } from './exchange/index.js';
import type { ScopePolicy } from './exchange/scope.js';
import { advertisedEndpointProblem } from './server/advertised.js';
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

/** The members of a parsed configuration object that have a value (zod gives absent options as `undefined`). */
function definedMembers<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}

/**
 * The configured store. Redis diagnostics (connection lost, resync failed; never URLs or secrets) go to `say`,
 * like every other operator message, instead of straight to the console.
 */
async function storeFor(config: Config, say: (m: string) => void): Promise<Store> {
  if (config.store === 'memory') return new MemoryStore();
  const { createStore } = await import('./store/from-url.node.js');
  const logger = (line: string): void => say(line);
  const spec = typeof config.store === 'string' ? { url: config.store, logger } : { ...definedMembers(config.store), logger };
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
  /** the HTTP server (@hono/node-server over node:http) */
  server: HttpServer;
  url: string;
  /**
   * Drains (see `drainServer`, at most `drainTimeoutSeconds`, or `graceMs` when given), then closes the store.
   * Resolves with what the drain did.
   */
  close(o?: { graceMs?: number }): Promise<DrainResult>;
}

export interface DrainResult {
  /** how long the drain took, ms */
  elapsedMs: number;
  /** connections still open at the deadline, closed with their request unfinished */
  forced: number;
}

/**
 * Graceful shutdown of an HTTP server (issue 10 finding 6): stops accepting connections; idle keep-alive connections
 * are ended at once, busy ones as soon as their last response is sent (with `Connection: close` where the headers are
 * not out yet); at `graceMs` every connection still open is destroyed, however slow its client, so a shutdown always
 * ends. Connections are ended gracefully (FIN after the response bytes), never destroyed while a finished response may
 * still sit in the socket's buffer (which node's own closeIdleConnections does). `say` gets one line when the drain
 * starts and one when it ends; `now()` ends the drain at once (a second signal).
 */
export function drainServer(server: HttpServer, graceMs: number, say: (m: string) => void): { done: Promise<DrainResult>; now(): void } {
  const http = server;
  const t = trackerOf(http);
  const started = Date.now();
  t.draining = true;
  say(`drain started: no new connections; ${t.sockets.size} open connection(s) get up to ${graceMs} ms to finish`);
  let finish: () => void = () => {};
  const done = new Promise<DrainResult>((resolve) => {
    let ended = false;
    let forced = 0;
    const end = (): void => {
      if (ended) return;
      ended = true;
      clearTimeout(deadline);
      const r = { elapsedMs: Date.now() - started, forced };
      say(`drain ended after ${r.elapsedMs} ms: ${forced === 0 ? 'every request finished' : `${forced} connection(s) closed with a request unfinished`}`);
      resolve(r);
    };
    finish = (): void => {
      if (ended) return;
      forced = t.sockets.size;
      for (const socket of t.sockets.keys()) socket.destroy();
      end();
    };
    for (const [socket, inflight] of t.sockets) {
      if (inflight.size === 0) socket.end();
      else for (const res of inflight) if (!res.headersSent) res.setHeader('Connection', 'close');
    }
    // net.Server's close: stop listening, call back once the last connection has closed (http.Server's own close
    // would first destroy the connections it deems idle)
    NetServer.prototype.close.call(http, () => end());
    const deadline = setTimeout(finish, graceMs);
    if (t.sockets.size === 0) end();
  });
  return { done, now: () => finish() };
}

interface Tracker {
  /** open connections and their responses in flight */
  sockets: Map<Socket, Set<ServerResponse>>;
  draining: boolean;
}
const trackers = new WeakMap<HttpServer, Tracker>();

function trackerOf(server: HttpServer): Tracker {
  let t = trackers.get(server);
  if (t === undefined) {
    t = { sockets: new Map(), draining: false };
    trackers.set(server, t);
  }
  return t;
}

/** Tracks connections and responses in flight from the start, so that a drain knows which connections are busy. */
function trackConnections(server: HttpServer): void {
  const t = trackerOf(server);
  server.on('connection', (s: Socket) => {
    t.sockets.set(s, new Set());
    s.once('close', () => t.sockets.delete(s));
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const inflight = t.sockets.get(req.socket);
    if (inflight === undefined) return;
    inflight.add(res);
    if (t.draining && !res.headersSent) res.setHeader('Connection', 'close');
    res.once('close', () => {
      inflight.delete(res);
      if (t.draining && inflight.size === 0) req.socket.end();
    });
  });
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
  const say = o.say ?? ((m: string) => console.error(`baton: ${m}`));
  const { config } = built;
  let server: HttpServer;
  try {
    server = await new Promise<HttpServer>((resolveServer, reject) => {
      // without a createServer option, @hono/node-server serves with node:http's createServer
      const s = serve({ fetch: built.app.fetch, port: config.port, hostname: config.host }, () => resolveServer(s as HttpServer));
      trackConnections(s as HttpServer);
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
    close: async (c = {}) => {
      const r = await drainServer(server, c.graceMs ?? config.drainTimeoutSeconds * 1000, say).done;
      await built.store.close();
      return r;
    },
  };
}
