/**
 * The Store contract (test/helpers/store-contract.ts) on the Node backends: memory and Redis, one instance and two
 * sharing one Redis. The Durable Object backend runs the same contract inside workerd (test/workers/durable-object-store.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory.js';
import { RedisStore } from '../../src/store/redis.js';
import { sharedStoreContract, storeContract } from '../helpers/store-contract.js';
import { deleteKeys, REDIS_SKIP_REASON, redisUrl, testPrefix, sharedRedisStores } from '../helpers/redis.js';

const url = redisUrl();
if (url === undefined) console.warn(`[store contract] Redis backend skipped: ${REDIS_SKIP_REASON}`);

storeContract({ name: 'memory', backend: 'memory', make: () => new MemoryStore(), pushesRevocations: true });

const redisPrefixes: string[] = [];
describe.skipIf(url === undefined)('redis', () => {
  storeContract({
    name: 'redis',
    backend: 'redis',
    pushesRevocations: true,
    make: () => {
      const keyPrefix = testPrefix('contract');
      redisPrefixes.push(keyPrefix);
      return new RedisStore({ url: url ?? '', keyPrefix, logger: () => {} });
    },
    cleanup: async () => {
      for (const p of redisPrefixes.splice(0)) await deleteKeys(url!, p);
    },
  });
});

describe.skipIf(url === undefined)('RedisStore: instances sharing one Redis', () => {
  const make = sharedRedisStores(url, 'shared');

  sharedStoreContract('redis', make);

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
