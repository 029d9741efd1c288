/**
 * `Store.rateLimitAll` (several rate limits in one atomic step: the TTS's per-client and per-(client, subject) limits
 * in one round trip) on what the Store contract (test/helpers/store-contract.ts) does not reach in Node: the Durable
 * Object store in process (one object, eight shards), a third-party store without `rateLimitAll` (the fallback), and
 * Redis instances sharing counters. Memory and Redis run the same rateLimitAll contract in test/store/contract.test.ts,
 * the Durable Object inside workerd too.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BatonStoreDO, DurableObjectStore, type DurableObjectNamespaceLike } from '../../src/store/durable-object.js';
import { MemoryStore } from '../../src/store/memory.js';
import { RedisStore } from '../../src/store/redis.js';
import { rateLimitAll, type RateLimitCheck, type Store } from '../../src/store/types.js';
import { deleteKeys, REDIS_SKIP_REASON, redisUrl, testPrefix } from '../helpers/redis.js';
import { rateLimitAllContract } from '../helpers/store-contract.js';

const url = redisUrl();
if (url === undefined) console.warn(`[rateLimitAll] Redis backend skipped: ${REDIS_SKIP_REASON}`);

/**
 * The Durable Object store in-process: the real `BatonStoreDO` behind a namespace that hands each name its own
 * object. Rate limits never touch SQL storage, so the SQL handle only accepts the statements and answers nothing
 * (useOnce/revoke are not exercised here; inside workerd, test/workers covers them).
 */
function inProcessDurableObjects(): DurableObjectNamespaceLike & { calls: number } {
  const objects = new Map<string, BatonStoreDO>();
  const sql = { exec: () => ({ toArray: () => [] }) };
  const ns = {
    calls: 0,
    idFromName: (name: string) => name,
    get: (id: never) => ({
      fetch: async (input: string, init?: RequestInit) => {
        ns.calls += 1;
        let o = objects.get(id as string);
        if (o === undefined) objects.set(id as string, (o = new BatonStoreDO({ storage: { sql } })));
        return o.fetch(new Request(input, init));
      },
    }),
  };
  return ns;
}

/** A third-party store without `rateLimitAll`: the helper falls back to one `rateLimit` at a time. */
function withoutRateLimitAll(inner: Store): Store {
  return {
    backend: inner.backend,
    useOnce: (n, id, ttl) => inner.useOnce(n, id, ttl),
    revoke: (t, u) => inner.revoke(t, u),
    isRevoked: (t) => inner.isRevoked(t),
    rateLimit: (k, l, w) => inner.rateLimit(k, l, w),
    health: () => inner.health(),
    close: () => inner.close(),
  };
}

const prefixes: string[] = [];
const MIN = 60_000;
const check = (key: string, limit: number, windowMs = MIN): RateLimitCheck => ({ key, limit, windowMs });

rateLimitAllContract({ name: 'durable-object in process (1 object)', make: () => new DurableObjectStore(inProcessDurableObjects()) });
rateLimitAllContract({ name: 'durable-object in process (8 shards)', make: () => new DurableObjectStore(inProcessDurableObjects(), { shards: 8 }) });
rateLimitAllContract({ name: 'store without rateLimitAll (fallback)', make: () => withoutRateLimitAll(new MemoryStore()) });

describe.skipIf(url === undefined)('rateLimitAll: RedisStore instances sharing one Redis', () => {
  const open: RedisStore[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
    for (const p of prefixes.splice(0)) await deleteKeys(url!, p);
  });

  it('share the counters: calls spread over A and B never exceed a limit', async () => {
    const keyPrefix = testPrefix('rl-all-shared');
    prefixes.push(keyPrefix);
    const a = new RedisStore({ url: url!, keyPrefix, logger: () => {} });
    const b = new RedisStore({ url: url!, keyPrefix, logger: () => {} });
    open.push(a, b);
    const all = await Promise.all(Array.from({ length: 12 }, (_, i) => rateLimitAll(i % 2 === 0 ? a : b, [check('cl', 100), check('cl:erin', 4)])));
    expect(all.filter((r) => r[1]?.allowed === true)).toHaveLength(4);
    expect(await b.rateLimit('cl', 100, MIN)).toMatchObject({ allowed: true, remaining: 87 });
  });
});

describe('rateLimitAll: Durable Object store', () => {
  it('makes one request for checks held by one object, one per check across shards', async () => {
    const one = inProcessDurableObjects();
    await new DurableObjectStore(one).rateLimitAll([check('a', 5), check('a:x', 5)]);
    expect(one.calls).toBe(1);
    const sharded = inProcessDurableObjects();
    // 'a' and 'a:x' land in different shards of 8 (FNV-1a): the checks go one at a time
    await new DurableObjectStore(sharded, { shards: 8 }).rateLimitAll([check('a', 5), check('a:x', 5)]);
    expect(sharded.calls).toBe(2);
  });

  it('the object refuses a malformed multi-check request (400)', async () => {
    const o = new BatonStoreDO({ storage: { sql: { exec: () => ({ toArray: () => [] }) } } });
    const bad = await o.fetch(new Request('https://x/op', { method: 'POST', body: JSON.stringify({ op: 'rateLimitAll', checks: [] }) }));
    expect(bad.status).toBe(400);
    const bad2 = await o.fetch(new Request('https://x/op', { method: 'POST', body: JSON.stringify({ op: 'rateLimitAll', checks: [{ key: 'k', limit: 'x', windowMs: 1 }] }) }));
    expect(bad2.status).toBe(400);
  });
});
