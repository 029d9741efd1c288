/**
 * Redis for tests: the URL chosen by the global setup (`test/setup/redis.ts`), per-test key prefixes and their
 * cleanup, and private `redis-server` processes that fault tests may stop and start again on the same port.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createConnection, createServer } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, inject } from 'vitest';
import { RedisStore } from '../../src/store/redis.js';
import { freePort } from './net.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** redis:// URL of the Redis the tests use; '' when none is available (Redis suites skip). */
    batonRedisUrl: string;
  }
}

/** The Redis the tests may use, or undefined when none is available (then Redis suites skip, with a notice). */
export function redisUrl(): string | undefined {
  let provided: string | undefined;
  try {
    provided = inject('batonRedisUrl');
  } catch {
    provided = undefined;
  }
  const url = provided || process.env.BATON_TEST_REDIS_URL;
  return url ? url : undefined;
}

/** Why Redis suites are skipped (printed by the suites that skip). */
export const REDIS_SKIP_REASON =
  'no Redis: 127.0.0.1:6379 did not answer and no redis-server binary was found (see test/setup/redis.ts)';

/**
 * RedisStores sharing one fresh key prefix (instances of one deployment), all closed and their keys deleted after the
 * suite. Call inside a `describe`.
 */
export function sharedRedisStores(url: string | undefined, label: string): () => RedisStore {
  const prefix = testPrefix(label);
  const stores: RedisStore[] = [];
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    if (url !== undefined) await deleteKeys(url, prefix);
  });
  return () => {
    const s = new RedisStore({ url: url ?? '', keyPrefix: prefix, logger: () => {} });
    stores.push(s);
    return s;
  };
}

/** A fresh key prefix for one test, so tests never see each other's keys. */
export function testPrefix(label = 't'): string {
  return `baton-test:${label}:${randomUUID()}:`;
}

/** Deletes every key under `prefix` (SCAN + UNLINK). */
export async function deleteKeys(url: string, prefix: string): Promise<number> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000 });
  r.on('error', () => {});
  let n = 0;
  try {
    await r.connect();
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) n += await r.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
  return n;
}

/** Sends PING over a raw socket; the first line of the answer within `timeoutMs`, or '' (no answer). */
function pingReply(host: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    let buf = '';
    const finish = (reply: string): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(reply);
    };
    const timer = setTimeout(() => finish(''), timeoutMs);
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      buf += d.toString('utf8');
      if (buf.includes('\r\n')) finish(buf.slice(0, buf.indexOf('\r\n')));
    });
    socket.on('error', () => finish(''));
  });
}

/** true when the answer to PING is +PONG within `timeoutMs`. */
export async function pingRedis(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return (await pingReply(host, port, timeoutMs)).startsWith('+PONG');
}

/** true when something speaking RESP answers on the port (PONG, or NOAUTH when a password is required). */
async function answers(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return /^[+-]/.test(await pingReply(host, port, timeoutMs));
}


/** Whether a `redis-server` binary can be run. */
export function hasRedisServer(): Promise<boolean> {
  return new Promise((resolve) => {
    const p = spawn('redis-server', ['--version'], { stdio: 'ignore' });
    p.on('error', () => resolve(false));
    p.on('exit', (code) => resolve(code === 0));
  });
}

export interface PrivateRedis {
  readonly port: number;
  readonly url: string;
  readonly running: boolean;
  /** Starts (again) on the same port and resolves once it answers PING. */
  start(): Promise<void>;
  /** Kills the server (SIGKILL: like a crash, no goodbye to clients) and resolves once it has exited. */
  stop(): Promise<void>;
}

/** Starts a private, non-persistent `redis-server` on a free (or the given) port of 127.0.0.1. */
export async function startPrivateRedis(options: { port?: number; args?: string[] } = {}): Promise<PrivateRedis> {
  const p = options.port ?? (await freePort());
  const extra = options.args ?? [];
  let child: ChildProcess | undefined;

  const start = async (): Promise<void> => {
    if (child !== undefined) return;
    const c = spawn(
      'redis-server',
      ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', ...extra],
      { stdio: 'ignore' },
    );
    child = c;
    let exited = false;
    c.on('exit', () => {
      exited = true;
      if (child === c) child = undefined;
    });
    c.on('error', () => {
      exited = true;
    });
    for (let i = 0; i < 100; i++) {
      if (exited) throw new Error(`redis-server could not start on port ${p}`);
      if (await answers('127.0.0.1', p, 200)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    c.kill('SIGKILL');
    throw new Error(`redis-server on port ${p} did not answer PING`);
  };

  const stop = async (): Promise<void> => {
    const c = child;
    if (c === undefined) return;
    child = undefined;
    if (c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  };

  await start();
  return {
    port: p,
    url: `redis://127.0.0.1:${p}`,
    get running() {
      return child !== undefined;
    },
    start,
    stop,
  };
}


export interface TcpProxy {
  readonly port: number;
  readonly url: string;
  /** Freezes every connection through the proxy: nothing is forwarded either way, nothing is closed (a partition). */
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

/**
 * A TCP proxy on 127.0.0.1 in front of `targetPort`, for freezing one client's link to Redis while others keep theirs
 * (never the shared Redis itself: only this client's sockets stop). New connections made while paused are accepted and
 * held, their upstream opened only on resume.
 */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  let paused = false;
  const pairs = new Set<{ a: import('node:net').Socket; b: import('node:net').Socket | undefined; start(): void }>();
  const server = createServer((client) => {
    const pair = {
      a: client,
      b: undefined as import('node:net').Socket | undefined,
      start() {
        if (pair.b !== undefined) return;
        const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
        pair.b = upstream;
        client.pipe(upstream);
        upstream.pipe(client);
        upstream.on('error', () => client.destroy());
        upstream.on('close', () => client.destroy());
      },
    };
    pairs.add(pair);
    client.on('error', () => pair.b?.destroy());
    client.on('close', () => {
      pair.b?.destroy();
      pairs.delete(pair);
    });
    if (paused) client.pause();
    else pair.start();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pause() {
      paused = true;
      for (const p of pairs) {
        p.a.unpipe();
        p.b?.unpipe();
        p.a.pause();
        p.b?.pause();
      }
    },
    resume() {
      paused = false;
      for (const p of pairs) {
        if (p.b === undefined) p.start();
        else {
          p.a.pipe(p.b);
          p.b.pipe(p.a);
        }
        p.a.resume();
        p.b?.resume();
      }
    },
    async close() {
      for (const p of pairs) {
        p.a.destroy();
        p.b?.destroy();
      }
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
