/**
 * `Store.rateLimitAll`: several rate limits in one atomic step (the TTS's per-client and per-(client, subject)
 * limits in one round trip). Same contract on every backend: in order, each check counted as `rateLimit` counts it,
 * stopping at the first refusal (that check and the later ones are not counted), sharing counters with `rateLimit`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BatonStoreDO, DurableObjectStore, type DurableObjectNamespaceLike } from '../../src/store/durable-object.js';
import { MemoryStore } from '../../src/store/memory.js';
import { RedisStore } from '../../src/store/redis.js';
import { rateLimitAll, type RateLimitCheck, type Store } from '../../src/store/types.js';
import { deleteKeys, REDIS_SKIP_REASON, redisUrl, testPrefix } from '../helpers/redis.js';

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

interface Backend {
  name: string;
  available: boolean;
  make(): Store;
}

const prefixes: string[] = [];
const redisStore = (): RedisStore => {
  const keyPrefix = testPrefix('rl-all');
  prefixes.push(keyPrefix);
  return new RedisStore({ url: url ?? '', keyPrefix, logger: () => {} });
};
const backends: Backend[] = [
  { name: 'memory', available: true, make: () => new MemoryStore() },
  { name: 'redis', available: url !== undefined, make: redisStore },
  { name: 'durable-object (1 object)', available: true, make: () => new DurableObjectStore(inProcessDurableObjects()) },
  { name: 'durable-object (8 shards)', available: true, make: () => new DurableObjectStore(inProcessDurableObjects(), { shards: 8 }) },
  { name: 'store without rateLimitAll (fallback)', available: true, make: () => withoutRateLimitAll(new MemoryStore()) },
];

const MIN = 60_000;
const check = (key: string, limit: number, windowMs = MIN): RateLimitCheck => ({ key, limit, windowMs });

for (const b of backends) {
  describe.skipIf(!b.available)(`rateLimitAll: ${b.name}`, () => {
    const open: Store[] = [];
    const make = (): Store => {
      const s = b.make();
      open.push(s);
      return s;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
      if (url !== undefined) for (const p of prefixes.splice(0)) await deleteKeys(url, p);
    });

    it('counts each check against its own limit, on the same counters as rateLimit', async () => {
      const s = make();
      const r1 = await rateLimitAll(s, [check('client', 5), check('client:alice', 2)]);
      expect(r1.map((r) => [r.allowed, r.limit, r.remaining])).toEqual([
        [true, 5, 4],
        [true, 2, 1],
      ]);
      for (const r of r1) expect(r.retryAfterSec).toBeGreaterThanOrEqual(1);
      // the same counters as rateLimit
      expect(await s.rateLimit('client', 5, MIN)).toMatchObject({ allowed: true, remaining: 3 });
      expect(await s.rateLimit('client:alice', 2, MIN)).toMatchObject({ allowed: true, remaining: 0 });
    });

    it('a refused later check is not counted; the earlier ones are', async () => {
      const s = make();
      expect((await rateLimitAll(s, [check('c', 10), check('c:bob', 1)])).map((r) => r.allowed)).toEqual([true, true]);
      const over = await rateLimitAll(s, [check('c', 10), check('c:bob', 1)]);
      expect(over.map((r) => r.allowed)).toEqual([true, false]);
      expect(over[1]).toMatchObject({ allowed: false, limit: 1, remaining: 0 });
      expect(over[1]!.retryAfterSec).toBeGreaterThanOrEqual(1);
      expect(over[1]!.retryAfterSec).toBeLessThanOrEqual(60);
      // c counted twice (8 left after a third), c:bob once (refusal not counted: still refused, not "over by one")
      expect(await s.rateLimit('c', 10, MIN)).toMatchObject({ allowed: true, remaining: 7 });
    });

    it('stops at the first refusal: later checks are neither evaluated nor counted', async () => {
      const s = make();
      expect((await s.rateLimit('client-x', 1, MIN)).allowed).toBe(true);
      const r = await rateLimitAll(s, [check('client-x', 1), check('client-x:carol', 5)]);
      expect(r).toHaveLength(1);
      expect(r[0]).toMatchObject({ allowed: false, limit: 1, remaining: 0 });
      // carol's budget was not touched by the refused call
      expect(await s.rateLimit('client-x:carol', 5, MIN)).toMatchObject({ allowed: true, remaining: 4 });
    });

    it('a new window starts after windowMs for each check', async () => {
      const s = make();
      expect((await rateLimitAll(s, [check('w', 1, 200), check('w:s', 1, 200)])).map((r) => r.allowed)).toEqual([true, true]);
      expect((await rateLimitAll(s, [check('w', 1, 200), check('w:s', 1, 200)]))[0]!.allowed).toBe(false);
      let again: boolean[] = [];
      for (let i = 0; i < 60 && !(again[0] === true && again[1] === true); i++) {
        await new Promise((r) => setTimeout(r, 50));
        again = (await rateLimitAll(s, [check('w', 1, 200), check('w:s', 1, 200)])).map((r) => r.allowed);
      }
      expect(again).toEqual([true, true]);
    });

    it('parallel calls never exceed either limit, and the second is counted only with the first', async () => {
      const s = make();
      const all = await Promise.all(Array.from({ length: 20 }, () => rateLimitAll(s, [check('p', 5), check('p:dave', 100)])));
      expect(all.filter((r) => r[0]!.allowed)).toHaveLength(5);
      expect(all.filter((r) => r.length === 2 && r[1]!.allowed)).toHaveLength(5);
      expect(all.filter((r) => r.length === 1)).toHaveLength(15);
      expect(await s.rateLimit('p:dave', 100, MIN)).toMatchObject({ allowed: true, remaining: 94 });
    });

    it('no checks: an empty answer', async () => {
      expect(await rateLimitAll(make(), [])).toEqual([]);
    });
  });
}

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
