/**
 * The Store contract, run against every backend: what TTS instances and verifiers rely on (T-08 single-use
 * assertion ids, V-08 revocation, V-09 replay guard, rate limits with Retry-After).
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory.js';
import { RedisStore } from '../../src/store/redis.js';
import type { Store } from '../../src/store/types.js';
import { REDIS_SKIP_REASON, deleteKeys, eventually, redisUrl, testPrefix } from '../helpers/redis.js';

const url = redisUrl();
if (url === undefined) console.warn(`[store contract] Redis backend skipped: ${REDIS_SKIP_REASON}`);

interface Backend {
  name: string;
  available: boolean;
  make(): Store;
  cleanup(): Promise<void>;
}

const redisPrefixes: string[] = [];
const backends: Backend[] = [
  { name: 'memory', available: true, make: () => new MemoryStore(), cleanup: async () => {} },
  {
    name: 'redis',
    available: url !== undefined,
    make: () => {
      const keyPrefix = testPrefix('contract');
      redisPrefixes.push(keyPrefix);
      return new RedisStore({ url: url ?? '', keyPrefix, logger: () => {} });
    },
    cleanup: async () => {
      if (url === undefined) return;
      for (const p of redisPrefixes.splice(0)) await deleteKeys(url, p);
    },
  },
];

const nowSec = (): number => Math.floor(Date.now() / 1000);

for (const b of backends) {
  describe.skipIf(!b.available)(`Store contract: ${b.name}`, () => {
    const open: Store[] = [];
    const make = (): Store => {
      const s = b.make();
      open.push(s);
      return s;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
      await b.cleanup();
    });

    it('useOnce: first use is accepted, a replay is refused, namespaces are separate', async () => {
      const s = make();
      expect(await s.useOnce('jti', 'abc', 60_000)).toBe(true);
      expect(await s.useOnce('jti', 'abc', 60_000)).toBe(false);
      expect(await s.useOnce('txn', 'abc', 60_000)).toBe(true);
      expect(await s.useOnce('jti', 'abd', 60_000)).toBe(true);
    });

    it('useOnce: namespace and id do not collide through separators', async () => {
      const s = make();
      expect(await s.useOnce('a:b', 'c', 60_000)).toBe(true);
      expect(await s.useOnce('a', 'b:c', 60_000)).toBe(true);
    });

    it('useOnce: the id is usable again once its ttl has passed', async () => {
      const s = make();
      expect(await s.useOnce('jti', 'short', 50)).toBe(true);
      expect(await s.useOnce('jti', 'short', 50)).toBe(false);
      expect(await eventually(() => s.useOnce('jti', 'short', 50), 3000)).toBe(true);
    });

    it('useOnce: 50 parallel calls with the same id yield exactly one true', async () => {
      const s = make();
      const results = await Promise.all(Array.from({ length: 50 }, () => s.useOnce('jti', 'race', 60_000)));
      expect(results.filter((r) => r)).toHaveLength(1);
    });

    it('revoke / isRevoked: only the revoked txn is revoked', async () => {
      const s = make();
      expect(await s.isRevoked('txn-1')).toBe(false);
      await s.revoke('txn-1', nowSec() + 600);
      expect(await s.isRevoked('txn-1')).toBe(true);
      expect(await s.isRevoked('txn-2')).toBe(false);
    });

    it('revoke: a revocation ends at its until, and a shorter later revoke does not shorten it', async () => {
      const s = make();
      await s.revoke('txn-exp', nowSec() + 1);
      expect(await s.isRevoked('txn-exp')).toBe(true);
      expect(await eventually(async () => !(await s.isRevoked('txn-exp')), 4000)).toBe(true);

      await s.revoke('txn-long', nowSec() + 600);
      await s.revoke('txn-long', nowSec() + 1);
      await new Promise((r) => setTimeout(r, 2100));
      expect(await s.isRevoked('txn-long')).toBe(true);
    });

    it('revoke: an until already in the past does not revoke', async () => {
      const s = make();
      await s.revoke('txn-past', nowSec() - 10);
      expect(await s.isRevoked('txn-past')).toBe(false);
    });

    it('rateLimit: allows up to the limit, then refuses with Retry-After >= 1', async () => {
      const s = make();
      const seen = [];
      for (let i = 0; i < 3; i++) seen.push(await s.rateLimit('client-a', 3, 60_000));
      expect(seen.map((r) => r.allowed)).toEqual([true, true, true]);
      expect(seen.map((r) => r.remaining)).toEqual([2, 1, 0]);
      const over = await s.rateLimit('client-a', 3, 60_000);
      expect(over).toMatchObject({ allowed: false, limit: 3, remaining: 0 });
      expect(over.retryAfterSec).toBeGreaterThanOrEqual(1);
      expect(over.retryAfterSec).toBeLessThanOrEqual(60);
      expect((await s.rateLimit('client-b', 3, 60_000)).allowed).toBe(true);
    });

    it('rateLimit: a new window starts after windowMs', async () => {
      const s = make();
      expect((await s.rateLimit('k', 1, 200)).allowed).toBe(true);
      expect((await s.rateLimit('k', 1, 200)).allowed).toBe(false);
      expect(await eventually(async () => (await s.rateLimit('k', 1, 200)).allowed, 3000)).toBe(true);
    });

    it('rateLimit: refused calls are not counted against the next window', async () => {
      const s = make();
      for (let i = 0; i < 5; i++) await s.rateLimit('k2', 2, 60_000);
      const r = await s.rateLimit('k2', 2, 60_000);
      expect(r.allowed).toBe(false);
      expect(r.remaining).toBe(0);
    });

    it('onRevoke: listeners hear a revocation with its until', async () => {
      const s = make();
      const heard: Array<[string, number]> = [];
      const off = s.onRevoke?.((t, u) => heard.push([t, u]));
      expect(off).toBeTypeOf('function');
      if (s.revocationFeedLive) expect(await eventually(() => s.revocationFeedLive?.() === true, 5000)).toBe(true);
      const until = nowSec() + 300;
      await s.revoke('txn-push', until);
      expect(await eventually(() => heard.some(([t]) => t === 'txn-push'), 2000)).toBe(true);
      expect(heard.find(([t]) => t === 'txn-push')?.[1]).toBe(until);
      off?.();
    });

    it('health reports ok', async () => {
      const s = make();
      const h = await s.health();
      expect(h).toMatchObject({ ok: true, backend: b.name });
    });
  });
}

describe.skipIf(url === undefined)('RedisStore: instances sharing one Redis', () => {
  const prefix = testPrefix('shared');
  const stores: RedisStore[] = [];
  const make = (): RedisStore => {
    const s = new RedisStore({ url: url ?? '', keyPrefix: prefix, logger: () => {} });
    stores.push(s);
    return s;
  };
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    if (url !== undefined) await deleteKeys(url, prefix);
  });

  it('agree on useOnce: an id used through A is a replay through B', async () => {
    const a = make();
    const b = make();
    expect(await a.useOnce('jti', 'x1', 60_000)).toBe(true);
    expect(await b.useOnce('jti', 'x1', 60_000)).toBe(false);
  });

  it('50 parallel useOnce calls spread over two instances yield exactly one true', async () => {
    const a = make();
    const b = make();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).useOnce('jti', 'x-race', 60_000)),
    );
    expect(results.filter((r) => r)).toHaveLength(1);
  });

  it('share one rate-limit counter', async () => {
    const a = make();
    const b = make();
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).rateLimit('client-shared', 6, 60_000)),
    );
    expect(results.filter((r) => r.allowed)).toHaveLength(6);
    expect((await a.rateLimit('client-shared', 6, 60_000)).allowed).toBe(false);
    expect((await b.rateLimit('client-shared', 6, 60_000)).allowed).toBe(false);
  });

  it('agree on revocation', async () => {
    const a = make();
    const b = make();
    await a.revoke('txn-shared', nowSec() + 600);
    expect(await b.isRevoked('txn-shared')).toBe(true);
  });

  it('different key prefixes do not share state', async () => {
    const a = make();
    const other = new RedisStore({ url: url ?? '', keyPrefix: testPrefix('other'), logger: () => {} });
    try {
      expect(await a.useOnce('jti', 'prefix-test', 60_000)).toBe(true);
      expect(await other.useOnce('jti', 'prefix-test', 60_000)).toBe(true);
    } finally {
      await other.close();
      if (url !== undefined) await deleteKeys(url, other.keyPrefix);
    }
  });
});
