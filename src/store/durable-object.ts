// The Workers backend of the `Store` contract: a Durable Object (`BatonStoreDO`) owns single-use ids, revocations and
// rate-limit windows; `DurableObjectStore` is the client every Worker isolate uses to reach it.
//
// Why a Durable Object and not Workers KV: KV is eventually consistent (a write takes up to ~60 s to be visible in other
// locations, and reads are cached at the edge), and it has no atomic read-modify-write. Two requests carrying the same
// client-assertion `jti` that land on different edge locations (or even the same one within the cache window) would
// both read "unseen" and both succeed: the single-use rule (T-08, V-09) would be broken, a revocation could be missed
// for up to a minute, and rate limits could be exceeded by the number of locations. A Durable Object is a single
// instance worldwide for a given name: every request for that name is serialised through one thread, and each
// operation below runs synchronously with no `await` in between, so check-and-set is atomic and the answer is strongly
// consistent. Single-use ids and revocations are durable (SQLite storage, written before the response is released);
// rate-limit windows are kept in the object's memory (see `rateLimit`).
//
// Sharding: by default one object named "global" holds everything. For more throughput, `shards: N` spreads keys over
// N objects by a hash of the key; every operation touches one key only, so sharding keeps the guarantees. Changing N
// on a live deployment moves keys between objects (revocations and ids seen before the change are not found): only
// change it together with a full token lifetime of caution (maxTokenTtl).
//
// Workers-safe: no Node API; the Workers types are declared structurally below (no @cloudflare/workers-types needed).
import { rateLimitSequential, StoreUnavailableError, type RateLimitCheck, type RateLimitResult, type Store, type StoreHealth } from './types.js';
import { countWindow, countWindows, type RateWindow } from './windows.js';

/** The part of the Workers SQL storage API used here (`ctx.storage.sql`, SQLite-backed Durable Objects). */
export interface SqlStorageLike {
  exec(query: string, ...bindings: (string | number | null)[]): { toArray(): Record<string, unknown>[] };
}
export interface DurableObjectStateLike {
  storage: { sql: SqlStorageLike };
}
export interface DurableObjectStubLike {
  fetch(input: string, init?: RequestInit): Promise<Response>;
}
export interface DurableObjectNamespaceLike {
  idFromName(name: string): unknown;
  get(id: never): DurableObjectStubLike;
}

type Op =
  | { op: 'useOnce'; namespace: string; id: string; ttlMs: number }
  | { op: 'revoke'; txn: string; until: number }
  | { op: 'isRevoked'; txn: string }
  | { op: 'rateLimit'; key: string; limit: number; windowMs: number }
  | { op: 'rateLimitAll'; checks: RateLimitCheck[] }
  | { op: 'health' };

const MAX_KEY = 1024;
const MAX_CHECKS = 16;

function str(v: unknown, name: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_KEY) throw new Error(`${name} must be a string of 1..${MAX_KEY} characters`);
  return v;
}
function num(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${name} must be a number`);
  return v;
}

function parseOp(body: unknown): Op {
  if (body === null || typeof body !== 'object') throw new Error('body must be an object');
  const b = body as Record<string, unknown>;
  switch (b.op) {
    case 'useOnce':
      return { op: 'useOnce', namespace: str(b.namespace, 'namespace'), id: str(b.id, 'id'), ttlMs: num(b.ttlMs, 'ttlMs') };
    case 'revoke':
      return { op: 'revoke', txn: str(b.txn, 'txn'), until: num(b.until, 'until') };
    case 'isRevoked':
      return { op: 'isRevoked', txn: str(b.txn, 'txn') };
    case 'rateLimit':
      return { op: 'rateLimit', key: str(b.key, 'key'), limit: num(b.limit, 'limit'), windowMs: num(b.windowMs, 'windowMs') };
    case 'rateLimitAll': {
      if (!Array.isArray(b.checks) || b.checks.length === 0 || b.checks.length > MAX_CHECKS) throw new Error(`checks must be an array of 1..${MAX_CHECKS}`);
      const checks = (b.checks as unknown[]).map((c) => {
        if (c === null || typeof c !== 'object') throw new Error('each check must be an object');
        const o = c as Record<string, unknown>;
        return { key: str(o.key, 'key'), limit: num(o.limit, 'limit'), windowMs: num(o.windowMs, 'windowMs') };
      });
      return { op: 'rateLimitAll', checks };
    }
    case 'health':
      return { op: 'health' };
    default:
      throw new Error('unknown op');
  }
}

/**
 * The Durable Object. Bind it in wrangler.toml (`[[durable_objects.bindings]] name = "BATON_STORE_DO"`,
 * `class_name = "BatonStoreDO"`, migration `new_sqlite_classes = ["BatonStoreDO"]`). Internal protocol: POST JSON
 * `{op, ...}` to any URL; answers JSON. Not reachable from the Internet (only through the binding).
 */
export class BatonStoreDO {
  readonly #sql: SqlStorageLike;
  readonly #now: () => number;
  readonly #windows = new Map<string, RateWindow>();
  #ops = 0;

  constructor(state: DurableObjectStateLike, _env?: unknown, options: { now?: () => number } = {}) {
    this.#sql = state.storage.sql;
    this.#now = options.now ?? Date.now;
    this.#sql.exec('CREATE TABLE IF NOT EXISTS once (k TEXT PRIMARY KEY, until INTEGER NOT NULL)');
    this.#sql.exec('CREATE INDEX IF NOT EXISTS once_until ON once (until)');
    this.#sql.exec('CREATE TABLE IF NOT EXISTS revoked (txn TEXT PRIMARY KEY, until INTEGER NOT NULL)');
    this.#sql.exec('CREATE INDEX IF NOT EXISTS revoked_until ON revoked (until)');
  }

  async fetch(request: Request): Promise<Response> {
    if (request.method !== 'POST') return Response.json({ error: 'method not allowed' }, { status: 405 });
    let op: Op;
    try {
      op = parseOp(await request.json());
    } catch (e) {
      return Response.json({ error: (e as Error).message }, { status: 400 });
    }
    return Response.json(this.run(op));
  }

  /** One operation, synchronously: no other request can interleave between its read and its write. */
  run(op: Op): unknown {
    const now = this.#now();
    this.#sweep(now);
    switch (op.op) {
      case 'useOnce': {
        const k = `${op.namespace}\u0000${op.id}`;
        const row = this.#sql.exec('SELECT until FROM once WHERE k = ?', k).toArray()[0];
        if (row !== undefined && Number(row.until) > now) return { first: false };
        this.#sql.exec('INSERT OR REPLACE INTO once (k, until) VALUES (?, ?)', k, now + Math.max(1, Math.ceil(op.ttlMs)));
        return { first: true };
      }
      case 'revoke': {
        const until = Math.floor(op.until) * 1000;
        this.#sql.exec('INSERT INTO revoked (txn, until) VALUES (?, ?) ON CONFLICT(txn) DO UPDATE SET until = MAX(until, excluded.until)', op.txn, until);
        return { ok: true };
      }
      case 'isRevoked': {
        const row = this.#sql.exec('SELECT until FROM revoked WHERE txn = ?', op.txn).toArray()[0];
        return { revoked: row !== undefined && Number(row.until) > now };
      }
      case 'rateLimit': {
        // Windows live in the object's memory, not in storage: still one serialised truth for every isolate, and no
        // durable write (and output-gate wait) per exchange. If the object is evicted or restarted, the windows start
        // over: a rate limit is a brake, not a security record (single-use ids and revocations are stored durably).
        return countWindow(this.#windows, op.key, Math.floor(op.limit), Math.max(1, Math.floor(op.windowMs)), now);
      }
      case 'rateLimitAll': {
        // In order, stopping at the first refusal, with no other request in between (same windows as `rateLimit`).
        const checks = op.checks.map((c) => ({ key: c.key, limit: Math.floor(c.limit), windowMs: Math.max(1, Math.floor(c.windowMs)) }));
        return { results: countWindows(this.#windows, checks, now) };
      }
      case 'health':
        this.#sql.exec('SELECT 1').toArray();
        return { ok: true };
    }
  }

  /** Deletes a bounded number of expired rows every 64 operations, so storage stays proportional to live entries. */
  #sweep(now: number): void {
    if ((++this.#ops & 63) !== 0) return;
    this.#sql.exec('DELETE FROM once WHERE k IN (SELECT k FROM once WHERE until <= ? LIMIT 256)', now);
    this.#sql.exec('DELETE FROM revoked WHERE txn IN (SELECT txn FROM revoked WHERE until <= ? LIMIT 256)', now);
    let budget = 256;
    for (const [k, w] of this.#windows) {
      if (budget-- <= 0) break;
      if (w.resetAt <= now) this.#windows.delete(k);
    }
  }
}

export interface DurableObjectStoreOptions {
  /** number of objects keys are spread over (default 1: one object named "global") */
  shards?: number;
  /** an operation that takes longer fails with StoreUnavailableError (default 2000 ms) */
  timeoutMs?: number;
}

/** FNV-1a, 32 bit: a stable, cheap spread of keys over shards. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** The `Store` of a Worker: every operation is one request to the owning Durable Object. Fails closed. */
export class DurableObjectStore implements Store {
  readonly backend = 'durable-object';
  readonly #ns: DurableObjectNamespaceLike;
  readonly #shards: number;
  readonly #timeoutMs: number;

  constructor(namespace: DurableObjectNamespaceLike, options: DurableObjectStoreOptions = {}) {
    this.#ns = namespace;
    this.#shards = Math.max(1, Math.floor(options.shards ?? 1));
    this.#timeoutMs = options.timeoutMs ?? 2000;
  }

  /**
   * A stub per call: a stub is an I/O object of the request that created it, and the Workers runtime refuses I/O
   * on behalf of another request, while this store lives as long as the isolate (built once, used by every request).
   */
  #stub(key: string): DurableObjectStubLike {
    const shard = this.#shardOf(key);
    const name = shard < 0 ? 'global' : `shard-${shard}`;
    return this.#ns.get(this.#ns.idFromName(name) as never);
  }

  /** -1 for the single object "global", else the shard number. */
  #shardOf(key: string): number {
    return this.#shards === 1 ? -1 : fnv1a(key) % this.#shards;
  }

  async #call<T>(key: string, op: Op): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const res = await Promise.race([
        this.#stub(key).fetch('https://baton-store.internal/op', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(op),
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${this.#timeoutMs} ms`)), this.#timeoutMs);
        }),
      ]);
      if (!res.ok) throw new Error(`Durable Object answered ${res.status}`);
      return (await res.json()) as T;
    } catch (e) {
      throw new StoreUnavailableError(`durable-object store: ${op.op}: ${(e as Error).message}`, { cause: e });
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  async useOnce(namespace: string, id: string, ttlMs: number): Promise<boolean> {
    const r = await this.#call<{ first: boolean }>(`o:${namespace}\u0000${id}`, { op: 'useOnce', namespace, id, ttlMs });
    return r.first === true;
  }

  async revoke(txn: string, untilEpochSec: number): Promise<void> {
    await this.#call(`r:${txn}`, { op: 'revoke', txn, until: untilEpochSec });
  }

  async isRevoked(txn: string): Promise<boolean> {
    const r = await this.#call<{ revoked: boolean }>(`r:${txn}`, { op: 'isRevoked', txn });
    if (typeof r.revoked !== 'boolean') throw new StoreUnavailableError('durable-object store: isRevoked: malformed answer');
    return r.revoked;
  }

  async rateLimit(key: string, limit: number, windowMs: number): Promise<RateLimitResult> {
    return this.#call<RateLimitResult>(`l:${key}`, { op: 'rateLimit', key, limit, windowMs });
  }

  /**
   * One request when every key lives in the same object (always with one shard); otherwise one check at a time
   * (still stopping at the first refusal), because no object sees the other shards' windows.
   */
  async rateLimitAll(checks: readonly RateLimitCheck[]): Promise<RateLimitResult[]> {
    if (checks.length === 0) return [];
    const first = this.#shardOf(`l:${checks[0]!.key}`);
    if (checks.length > MAX_CHECKS || checks.some((c) => this.#shardOf(`l:${c.key}`) !== first)) return rateLimitSequential(this, checks);
    const r = await this.#call<{ results?: unknown }>(`l:${checks[0]!.key}`, {
      op: 'rateLimitAll',
      checks: checks.map((c) => ({ key: c.key, limit: c.limit, windowMs: c.windowMs })),
    });
    if (!Array.isArray(r.results) || r.results.length === 0 || r.results.length > checks.length)
      throw new StoreUnavailableError('durable-object store: rateLimitAll: malformed answer');
    return r.results as RateLimitResult[];
  }

  async health(): Promise<StoreHealth> {
    try {
      await this.#call('health', { op: 'health' });
      return { ok: true, backend: this.backend };
    } catch (e) {
      return { ok: false, backend: this.backend, detail: (e as Error).message };
    }
  }

  async close(): Promise<void> {}
}
