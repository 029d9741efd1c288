/**
 * Redis backend of the Baton `Store` (Node only: ioredis). Every TTS instance and verifying service that points at
 * the same Redis (standalone, Sentinel or Cluster) agrees on single-use ids, revocations and rate-limit counters.
 *
 * Fault model: every operation answers or throws `StoreUnavailableError` within a bounded time (about
 * `operationTimeoutMs`, 1 s by default). Commands are never queued while the connection is down (no offline queue,
 * no resend of unanswered commands after a reconnect), so a command the caller was told failed does not run later.
 * The connections reconnect by themselves with a capped backoff; the revocation subscriber re-subscribes and
 * resynchronises after every reconnect.
 */
import { Cluster, Redis } from 'ioredis';
import type { ClusterNode, ClusterOptions, RedisOptions } from 'ioredis';
import type { RateLimitCheck, RateLimitResult, RevocationListener, Store, StoreHealth } from './types.js';
import { rateLimitSequential, StoreUnavailableError } from './types.js';
import { checkLimit, globEscape, positiveInt, rateResult, RATE_LIMIT_ALL_LUA, RATE_LIMIT_LUA, REVOKE_LUA, type ScriptedClient } from './redis-scripts.js';

export interface RedisStoreOptions {
  /** `redis://[user:password@]host:port/db` or `rediss://` (TLS). */
  url?: string;
  /** Passed through to ioredis (host, port, password, tls, db, ... ; also `sentinels` + `name`). */
  redis?: RedisOptions;
  /** Sentinel: the sentinel addresses and the master group name (shorthand for `redis.sentinels` / `redis.name`). */
  sentinels?: RedisOptions['sentinels'];
  name?: string;
  /** Cluster: startup nodes. When set, a `Cluster` client is used (`clusterOptions` passed through). */
  cluster?: ClusterNode[];
  clusterOptions?: ClusterOptions;
  /** Prefix of every key and of the revocation channel. Default `baton:`. */
  keyPrefix?: string;
  /** TCP connect timeout. Default 1000 ms. */
  connectTimeoutMs?: number;
  /** Per-command timeout inside ioredis. Default 500 ms. */
  commandTimeoutMs?: number;
  /** Upper bound for one operation, waiting for a connection that is being established included. Default 1000 ms. */
  operationTimeoutMs?: number;
  /** Upper bound for `health()`. Default 1000 ms. */
  healthTimeoutMs?: number;
  /** Longest pause between reconnect attempts. Default 1000 ms. */
  maxReconnectDelayMs?: number;
  /**
   * The revocation bound (issue 10 finding 11): the pushed revocation feed counts as live (a local "not revoked" is
   * trusted) only while the subscriber connection has answered a PING sent at most this long ago; PINGs go out every
   * quarter of it. Past it (a frozen or partitioned link) a verifier asks Redis itself, and when Redis does not answer
   * it refuses (fail closed). So a revocation is enforced by every verifier at most this long after it was stored.
   * Default 1000 ms.
   */
  revocationFeedMaxLagMs?: number;
  /** One-line diagnostics (connection errors, throttled). Never receives secrets. Default `console.warn`. */
  logger?: (line: string) => void;
}

type Client = Redis | Cluster;

const LOG_INTERVAL_MS = 30_000;
const RESYNC_RETRY_MS = 1_000;
const DEFAULT_FEED_MAX_LAG_MS = 1_000;

function noop(): void {}

/** A short description of an error for logs and error messages: no URLs, no credentials, no keys. */
function describe(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    const msg = e.message.replace(/rediss?:\/\/\S*/gi, '<url>').slice(0, 200);
    return typeof code === 'string' && !msg.includes(code) ? `${code}: ${msg}` : msg;
  }
  return 'unknown error';
}


export class RedisStore implements Store {
  readonly backend = 'redis';
  readonly keyPrefix: string;
  readonly #client: Client;
  readonly #scripted: ScriptedClient;
  readonly #channel: string;
  readonly #opTimeoutMs: number;
  readonly #healthTimeoutMs: number;
  readonly #log: (line: string) => void;
  readonly #listeners = new Set<RevocationListener>();
  readonly #lastLog = new Map<string, { at: number; suppressed: number }>();
  #sub: Client | undefined;
  #subGen = 0;
  #subscribedGen = -1;
  #syncSeq = 0;
  #feedLive = false;
  #clusterRedisOptions: RedisOptions | undefined;
  #resyncTimer: ReturnType<typeof setTimeout> | undefined;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  #readyWaiter: Promise<void> | undefined;
  readonly #feedMaxLagMs: number;
  /** when the last PING (or SUBSCRIBE) that the subscriber connection has answered was sent; -Infinity: none */
  #confirmedAt = Number.NEGATIVE_INFINITY;

  constructor(spec: string | RedisStoreOptions = {}) {
    const o: RedisStoreOptions = typeof spec === 'string' ? { url: spec } : spec;
    this.keyPrefix = o.keyPrefix ?? 'baton:';
    this.#channel = `${this.keyPrefix}revocations`;
    const connectTimeout = o.connectTimeoutMs ?? 1000;
    const commandTimeout = o.commandTimeoutMs ?? 500;
    this.#opTimeoutMs = o.operationTimeoutMs ?? Math.max(connectTimeout, commandTimeout);
    this.#healthTimeoutMs = o.healthTimeoutMs ?? 1000;
    this.#log = o.logger ?? ((line) => console.warn(line));
    this.#feedMaxLagMs = positiveInt('revocationFeedMaxLagMs', o.revocationFeedMaxLagMs ?? DEFAULT_FEED_MAX_LAG_MS);
    const maxDelay = o.maxReconnectDelayMs ?? 1000;
    const retryStrategy = (times: number): number => Math.min(50 * 2 ** Math.min(times, 10), maxDelay);

    const bounded: RedisOptions = {
      connectTimeout,
      commandTimeout,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      retryStrategy,
      lazyConnect: false,
    };
    if (o.cluster !== undefined) {
      this.#clusterRedisOptions = { ...o.clusterOptions?.redisOptions, ...bounded };
      this.#client = new Cluster(o.cluster, {
        ...o.clusterOptions,
        enableOfflineQueue: false,
        clusterRetryStrategy: retryStrategy,
        redisOptions: this.#clusterRedisOptions,
      });
    } else {
      const extra: RedisOptions = { ...o.redis };
      if (o.sentinels !== undefined) extra.sentinels = o.sentinels;
      if (o.name !== undefined) extra.name = o.name;
      this.#client = o.url !== undefined ? new Redis(o.url, { ...extra, ...bounded }) : new Redis({ ...extra, ...bounded });
    }
    this.#watch(this.#client, 'main');
    this.#client.defineCommand('batonRevoke', { numberOfKeys: 1, lua: REVOKE_LUA });
    this.#client.defineCommand('batonRateLimit', { numberOfKeys: 1, lua: RATE_LIMIT_LUA });
    // numberOfKeys given per call (the first argument)
    this.#client.defineCommand('batonRateLimitAll', { lua: RATE_LIMIT_ALL_LUA });
    this.#scripted = this.#client as unknown as ScriptedClient;
  }

  async useOnce(namespace: string, id: string, ttlMs: number): Promise<boolean> {
    const ttl = positiveInt('ttlMs', ttlMs);
    const key = `${this.keyPrefix}once:${encodeURIComponent(namespace)}:${id}`;
    const r = await this.#run('useOnce', this.#opTimeoutMs, () => this.#client.set(key, '1', 'PX', ttl, 'NX'));
    return r === 'OK';
  }

  async revoke(txn: string, untilEpochSec: number): Promise<void> {
    if (!Number.isFinite(untilEpochSec)) throw new RangeError('untilEpochSec must be a finite number');
    const until = Math.ceil(untilEpochSec);
    const message = JSON.stringify({ txn, until });
    await this.#run('revoke', this.#opTimeoutMs, () =>
      this.#scripted.batonRevoke(this.#revKey(txn), String(until), String(until * 1000), this.#channel, message),
    );
  }

  async isRevoked(txn: string): Promise<boolean> {
    const n = await this.#run('isRevoked', this.#opTimeoutMs, () => this.#client.exists(this.#revKey(txn)));
    return n > 0;
  }

  async rateLimit(key: string, limit: number, windowMs: number): Promise<RateLimitResult> {
    const window = checkLimit(limit, windowMs);
    const r = await this.#run('rateLimit', this.#opTimeoutMs, () =>
      this.#scripted.batonRateLimit(`${this.keyPrefix}rl:${key}`, String(limit), String(window)),
    );
    return rateResult(r, limit);
  }

  /**
   * One script, one round trip, for all the checks. On a Cluster the keys may live in different slots (a script
   * may only touch one): the checks are made one at a time there, with the same stop-at-first-refusal contract.
   */
  async rateLimitAll(checks: readonly RateLimitCheck[]): Promise<RateLimitResult[]> {
    const args: string[] = new Array<string>(checks.length * 3);
    checks.forEach((c, i) => {
      const window = checkLimit(c.limit, c.windowMs);
      args[i] = `${this.keyPrefix}rl:${c.key}`;
      args[checks.length + 2 * i] = String(c.limit);
      args[checks.length + 2 * i + 1] = String(window);
    });
    if (checks.length === 0) return [];
    if (this.#client instanceof Cluster) return rateLimitSequential(this, checks);
    const replies = await this.#run('rateLimitAll', this.#opTimeoutMs, () => this.#scripted.batonRateLimitAll(checks.length, ...args));
    if (!Array.isArray(replies) || replies.length === 0 || replies.length > checks.length)
      throw new StoreUnavailableError('redis rateLimitAll: malformed reply');
    return replies.map((r, i) => rateResult(r, checks[i]!.limit));
  }

  onRevoke(listener: RevocationListener): () => void {
    if (this.#closed) return noop;
    this.#listeners.add(listener);
    if (this.#sub === undefined) this.#startSubscriber();
    // A new listener must learn the revocations that already exist: replay them before the feed counts as live.
    else if (this.#subscribedGen === this.#subGen) void this.#syncFeed(this.#subGen);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /**
   * Live = connected, subscribed, resynchronised, AND the subscriber connection answered a PING sent within
   * `revocationFeedMaxLagMs`. Redis delivers a connection's messages in order, so that answer proves every
   * revocation stored before the PING was sent has been delivered: a local miss is then at most that stale.
   */
  revocationFeedLive(): boolean {
    return this.#feedLive && !this.#closed && this.#sub?.status === 'ready' && Date.now() - this.#confirmedAt <= this.#feedMaxLagMs;
  }

  async health(): Promise<StoreHealth> {
    const feed = this.#sub === undefined ? 'off' : this.revocationFeedLive() ? 'live' : 'down';
    try {
      const pong = await this.#run('health', this.#healthTimeoutMs, () => this.#client.ping());
      if (pong !== 'PONG') return { ok: false, backend: this.backend, detail: 'unexpected PING reply' };
      return { ok: true, backend: this.backend, detail: `revocation feed ${feed}` };
    } catch (e) {
      return { ok: false, backend: this.backend, detail: e instanceof Error ? e.message : 'unavailable' };
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#feedLive = false;
    this.#listeners.clear();
    if (this.#resyncTimer !== undefined) clearTimeout(this.#resyncTimer);
    if (this.#pingTimer !== undefined) clearInterval(this.#pingTimer);
    const clients = this.#sub === undefined ? [this.#client] : [this.#client, this.#sub];
    await Promise.all(clients.map((c) => quitBounded(c, this.#opTimeoutMs)));
  }

  #revKey(txn: string): string {
    return `${this.keyPrefix}rev:${txn}`;
  }

  /**
   * Runs one command within `budgetMs`; every failure becomes `StoreUnavailableError`. On a ready connection the
   * command is written to the socket now, synchronously, so its round trip overlaps whatever the caller does next
   * (an `await` before sending would hold it until the caller's synchronous work yields).
   */
  #run<T>(op: string, budgetMs: number, fn: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreUnavailableError(`redis ${op}: store is closed`));
    const deadline = Date.now() + budgetMs;
    let p: Promise<T>;
    try {
      p = this.#client.status === 'ready' ? fn() : this.#waitReady(deadline).then(fn);
    } catch (e) {
      p = Promise.reject(e);
    }
    return withDeadline(p, deadline).catch((e: unknown) => {
      throw new StoreUnavailableError(`redis ${op} failed: ${describe(e)}`, { cause: e });
    });
  }

  /** Resolves when the main connection is ready; waits only while one is being established, never past `deadline`. */
  async #waitReady(deadline: number): Promise<void> {
    const c = this.#client;
    const status = c.status;
    if (status === 'ready') return;
    if (status === 'wait') c.connect().catch(noop);
    else if (status !== 'connecting' && status !== 'connect') throw new Error(`not connected (${status})`);
    // One shared waiter for all operations arriving during the same connection attempt.
    this.#readyWaiter ??= new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        c.off('ready', onReady);
        c.off('close', onClose);
        c.off('end', onClose);
        this.#readyWaiter = undefined;
        if (err === undefined) resolve();
        else reject(err);
      };
      const onReady = (): void => done();
      const onClose = (): void => done(new Error('connection closed'));
      c.on('ready', onReady);
      c.on('close', onClose);
      c.on('end', onClose);
    });
    this.#readyWaiter.catch(noop);
    await withDeadline(this.#readyWaiter, deadline, 'connect timeout');
  }

  #watch(c: Client, role: string): void {
    const report = (e: unknown): void => this.#logThrottled(role, `connection error: ${describe(e)}`);
    c.on('error', report);
    if (c instanceof Cluster) c.on('node error', report);
  }

  #logThrottled(role: string, what: string): void {
    const now = Date.now();
    const prev = this.#lastLog.get(role);
    if (prev !== undefined && now - prev.at < LOG_INTERVAL_MS) {
      prev.suppressed += 1;
      return;
    }
    const more = prev !== undefined && prev.suppressed > 0 ? ` (${prev.suppressed} similar suppressed)` : '';
    this.#lastLog.set(role, { at: now, suppressed: 0 });
    this.#log(`baton store redis [${role}]: ${what}${more}`);
  }

  #startSubscriber(): void {
    const sub =
      this.#client instanceof Cluster
        ? this.#client.duplicate(undefined, { redisOptions: { ...this.#clusterRedisOptions, autoResubscribe: false } })
        : this.#client.duplicate({ autoResubscribe: false });
    this.#sub = sub;
    this.#watch(sub, 'subscriber');
    const down = (): void => {
      this.#subGen += 1;
      this.#feedLive = false;
      this.#confirmedAt = Number.NEGATIVE_INFINITY;
    };
    sub.on('close', down);
    sub.on('end', down);
    sub.on('reconnecting', down);
    // 'ready' is emitted before ioredis finishes its own post-connect work: subscribe on the next turn.
    sub.on('ready', () => {
      down();
      const gen = this.#subGen;
      setTimeout(() => void this.#subscribe(sub, gen), 0);
    });
    sub.on('message', (channel: string, message: string) => {
      if (channel === this.#channel) this.#deliver(message);
    });
    // The heartbeat of the revocation bound (revocationFeedLive): a PING every quarter of the bound, valid in
    // subscriber mode. A half-open connection is also noticed by it (the PING times out: reconnect).
    this.#pingTimer = setInterval(() => {
      if (sub.status !== 'ready') return;
      const gen = this.#subGen;
      const sentAt = Date.now();
      sub.ping().then(
        () => {
          if (gen === this.#subGen && sentAt > this.#confirmedAt) this.#confirmedAt = sentAt;
        },
        (e: unknown) => {
          this.#logThrottled('subscriber', `ping failed: ${describe(e)}`);
          this.#feedLive = false;
          sub.disconnect(true);
        },
      );
    }, Math.max(10, Math.floor(this.#feedMaxLagMs / 4)));
    this.#pingTimer.unref?.();
  }

  async #subscribe(sub: Client, gen: number): Promise<void> {
    if (gen !== this.#subGen || this.#closed) return;
    const sentAt = Date.now();
    try {
      await sub.subscribe(this.#channel);
    } catch (e) {
      this.#logThrottled('subscriber', `subscribe failed: ${describe(e)}`);
      if (gen === this.#subGen && !this.#closed) sub.disconnect(true);
      return;
    }
    if (gen !== this.#subGen) return;
    this.#subscribedGen = gen;
    // the SUBSCRIBE answer confirms the link like a PING: every later PUBLISH reaches us in order
    if (sentAt > this.#confirmedAt) this.#confirmedAt = sentAt;
    await this.#syncFeed(gen);
  }

  /** Replays every stored revocation to the listeners, then marks the feed live (unless the connection changed). */
  async #syncFeed(gen: number): Promise<void> {
    if (gen !== this.#subGen || this.#closed) return;
    const seq = ++this.#syncSeq;
    this.#feedLive = false;
    if (this.#resyncTimer !== undefined) clearTimeout(this.#resyncTimer);
    try {
      await this.#replayStored();
    } catch (e) {
      this.#logThrottled('resync', `revocation resync failed: ${describe(e)}`);
      if (gen === this.#subGen && seq === this.#syncSeq && !this.#closed) {
        this.#resyncTimer = setTimeout(() => void this.#syncFeed(gen), RESYNC_RETRY_MS);
        this.#resyncTimer.unref?.();
      }
      return;
    }
    const current = gen === this.#subGen && seq === this.#syncSeq && this.#subscribedGen === gen;
    if (current && !this.#closed && this.#sub?.status === 'ready') this.#feedLive = true;
  }

  async #replayStored(): Promise<void> {
    const prefix = `${this.keyPrefix}rev:`;
    const nodes: Redis[] = this.#client instanceof Cluster ? this.#client.nodes('master') : [this.#client];
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await this.#run('resync', this.#opTimeoutMs, () =>
          node.scan(cursor, 'MATCH', `${globEscape(prefix)}*`, 'COUNT', 1000),
        );
        cursor = next;
        if (keys.length === 0) continue;
        // One pipelined round trip per SCAN page (plain GETs: safe on a cluster node, unlike a cross-slot MGET).
        const replies = await this.#run('resync', this.#opTimeoutMs, async () => {
          const r = await node.pipeline(keys.map((k) => ['get', k])).exec();
          if (r === null) throw new Error('pipeline aborted');
          return r;
        });
        replies.forEach(([err, v], i) => {
          const key = keys[i];
          if (err !== null || typeof v !== 'string' || key === undefined) return;
          const until = Number(v);
          if (Number.isFinite(until)) this.#emit(key.slice(prefix.length), until);
        });
      } while (cursor !== '0');
    }
  }

  #deliver(message: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      return;
    }
    if (typeof parsed !== 'object' || parsed === null) return;
    const { txn, until } = parsed as { txn?: unknown; until?: unknown };
    if (typeof txn !== 'string' || typeof until !== 'number' || !Number.isFinite(until)) return;
    this.#emit(txn, until);
  }

  #emit(txn: string, until: number): void {
    for (const l of this.#listeners) {
      try {
        l(txn, until);
      } catch (e) {
        this.#logThrottled('listener', `revocation listener threw: ${describe(e)}`);
      }
    }
  }
}

async function withDeadline<T>(p: Promise<T>, deadline: number, what = 'command timeout'): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(what)), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function quitBounded(c: Client, ms: number): Promise<void> {
  if (c.status === 'end') return;
  try {
    await withDeadline(c.quit(), Date.now() + ms);
  } catch {
    // Not connected or not answering: drop the socket and stop reconnecting.
  }
  c.disconnect(false);
}
