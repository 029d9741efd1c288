/**
 * RedisStore under faults, against a private redis-server this test kills and restarts on the same port:
 * operations fail fast with StoreUnavailableError (no hang, no unhandled rejection, no secret in logs), health says
 * not ok, and the same store recovers by itself (commands and the revocation push) when Redis comes back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/store/redis.js';
import { RevocationCache } from '../../src/store/revocation-cache.js';
import { StoreUnavailableError } from '../../src/store/types.js';
import { hasRedisServer, type PrivateRedis, startPrivateRedis, testPrefix } from '../helpers/redis.js';
import { eventually } from '../helpers/time.js';

const canSpawn = await hasRedisServer();
if (!canSpawn) console.warn('[store faults] skipped: no redis-server binary to start a private Redis');

const PASSWORD = 'fault-test-s3cret-passw0rd';
const nowSec = (): number => Math.floor(Date.now() / 1000);

/** Settles `p`, or reports a hang after `ms` (far above the store's own bound; not a timing assertion). */
async function settle<T>(p: Promise<T>, ms = 10_000): Promise<{ value?: T; error?: unknown; hung?: true }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<{ hung: true }>((r) => {
    timer = setTimeout(() => r({ hung: true }), ms);
  });
  try {
    return await Promise.race([p.then((value) => ({ value }), (error: unknown) => ({ error })), hang]);
  } finally {
    clearTimeout(timer);
  }
}

describe.skipIf(!canSpawn)('RedisStore faults (private redis-server)', () => {
  let server: PrivateRedis;
  let store: RedisStore;
  let peer: RedisStore;
  let cache: RevocationCache;
  const logs: string[] = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    server = await startPrivateRedis({ args: ['--requirepass', PASSWORD] });
    const url = `redis://:${PASSWORD}@127.0.0.1:${server.port}/0`;
    const keyPrefix = testPrefix('faults');
    store = new RedisStore({ url, keyPrefix, logger: (l) => logs.push(l) });
    peer = new RedisStore({ url, keyPrefix, logger: () => {} });
    cache = new RevocationCache(store);
  });

  afterAll(async () => {
    cache?.close();
    await store?.close();
    await peer?.close();
    await server?.stop();
    process.off('unhandledRejection', onUnhandled);
  });

  it('works while Redis is up, with a live revocation feed', async () => {
    expect(await store.useOnce('jti', 'up-1', 60_000)).toBe(true);
    expect(await eventually(() => store.revocationFeedLive(), 5000)).toBe(true);
    await peer.revoke('txn-before-outage', nowSec() + 600);
    expect(await eventually(() => cache.isRevokedLocal('txn-before-outage') === true, 2000)).toBe(true);
    expect((await store.health()).ok).toBe(true);
  });

  it('Redis down: every operation throws StoreUnavailableError, health is not ok', async () => {
    await server.stop();
    const ops: Array<[string, () => Promise<unknown>]> = [
      ['useOnce', () => store.useOnce('jti', 'down-1', 60_000)],
      ['revoke', () => store.revoke('txn-down', nowSec() + 600)],
      ['isRevoked', () => store.isRevoked('txn-down')],
      ['rateLimit', () => store.rateLimit('client', 5, 60_000)],
    ];
    for (const [name, op] of ops) {
      const r = await settle(op());
      expect(r.hung, `${name} hung`).toBeUndefined();
      expect(r.error, `${name} did not fail`).toBeInstanceOf(StoreUnavailableError);
      expect((r.error as StoreUnavailableError).code).toBe('store_unavailable');
      expect((r.error as Error).message).not.toContain(PASSWORD);
    }
    // Many calls at once during the outage: all settle, all with StoreUnavailableError.
    const burst = await settle(Promise.allSettled(Array.from({ length: 100 }, (_, i) => store.useOnce('jti', `b${i}`, 1000))));
    expect(burst.hung).toBeUndefined();
    const outcomes = burst.value ?? [];
    expect(outcomes).toHaveLength(100);
    expect(outcomes.every((o) => o.status === 'rejected' && o.reason instanceof StoreUnavailableError)).toBe(true);

    const h = await settle(store.health());
    expect(h.hung).toBeUndefined();
    expect(h.value?.ok).toBe(false);
    expect(h.value?.backend).toBe('redis');
    // The operator is told, in one line, once the reconnect attempts are refused.
    expect(await eventually(() => logs.length > 0, 5000)).toBe(true);
  });

  it('Redis down: the cache keeps known revocations and sends the rest to the (failing) store', async () => {
    expect(await eventually(() => !store.revocationFeedLive(), 5000)).toBe(true);
    expect(cache.isRevokedLocal('txn-before-outage')).toBe(true);
    expect(await cache.isRevoked('txn-before-outage')).toBe(true);
    expect(cache.isRevokedLocal('txn-unknown')).toBeUndefined();
    const r = await settle(cache.isRevoked('txn-unknown'));
    expect(r.error).toBeInstanceOf(StoreUnavailableError);
  });

  it('Redis back on the same port: the same store recovers, and the push is delivered again', async () => {
    await server.start();
    const recovered = await eventually(async () => {
      try {
        return await store.useOnce('jti', 'after-restart', 60_000);
      } catch (e) {
        if (e instanceof StoreUnavailableError) return false;
        throw e;
      }
    }, 15_000, 100);
    expect(recovered).toBe(true);
    expect(await store.useOnce('jti', 'after-restart', 60_000)).toBe(false);
    expect((await store.health()).ok).toBe(true);
    expect((await store.rateLimit('client', 1, 60_000)).allowed).toBe(true);

    expect(await eventually(() => store.revocationFeedLive(), 15_000, 50)).toBe(true);
    await eventually(async () => (await peer.health()).ok, 15_000, 100);
    await peer.revoke('txn-after-restart', nowSec() + 600);
    expect(await eventually(() => cache.isRevokedLocal('txn-after-restart') === true, 2000)).toBe(true);
    expect(cache.isRevokedLocal('txn-never')).toBe(false);
  });

  it('no unhandled rejection and no secret was logged; logging was throttled', () => {
    expect(unhandled).toEqual([]);
    expect(logs.length).toBeLessThanOrEqual(6);
    for (const l of logs) {
      expect(l).not.toContain(PASSWORD);
      expect(l).not.toContain('\n');
    }
  });
});

describe.skipIf(!canSpawn)('RedisStore started while Redis is down', () => {
  it('fails with StoreUnavailableError until Redis appears, then works without being recreated', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    const server = await startPrivateRedis();
    await server.stop();
    const store = new RedisStore({ url: server.url, keyPrefix: testPrefix('late'), logger: () => {} });
    try {
      const r = await settle(store.isRevoked('t'));
      expect(r.hung).toBeUndefined();
      expect(r.error).toBeInstanceOf(StoreUnavailableError);
      expect((await store.health()).ok).toBe(false);
      await server.start();
      expect(await eventually(async () => (await store.health()).ok, 15_000, 100)).toBe(true);
      expect(await store.isRevoked('t')).toBe(false);
      expect(unhandled).toEqual([]);
    } finally {
      await store.close();
      await server.stop();
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe.skipIf(!canSpawn)('RedisStore after close', () => {
  it('throws StoreUnavailableError instead of reconnecting', async () => {
    const server = await startPrivateRedis();
    const store = new RedisStore({ url: server.url, keyPrefix: testPrefix('closed'), logger: () => {} });
    try {
      expect(await store.useOnce('jti', 'c1', 1000)).toBe(true);
      await store.close();
      await expect(store.useOnce('jti', 'c2', 1000)).rejects.toBeInstanceOf(StoreUnavailableError);
      expect((await store.health()).ok).toBe(false);
    } finally {
      await server.stop();
    }
  });
});
