/**
 * The configuration's `store` forms reach `createStore` intact: what the schema accepts builds a working store, and
 * what `createStore` would refuse is refused by the schema first, as a ConfigError naming the field.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/schema.js';
import { createStore } from '../../src/store/from-url.node.js';
import type { Store } from '../../src/store/types.js';
import { deleteKeys, REDIS_SKIP_REASON, redisUrl, testPrefix } from '../helpers/redis.js';

const url = redisUrl();
if (url === undefined) console.warn(`[tts-redis config-store] skipped: ${REDIS_SKIP_REASON}`);

const base = { issuer: 'http://tts.test', trustDomain: 'support.test' };
const storeOf = (store: unknown) => parseConfig({ ...base, store }, 'baton.yaml').store;

describe('config.store forms', () => {
  it('refuses object forms createStore cannot build, naming the field', () => {
    const cases: Array<[unknown, string]> = [
      [{ keyPrefix: 'x:' }, 'store.url'],
      [{ sentinels: [{ host: 'h', port: 26379 }] }, 'store.name'],
      [{ cluster: [{ host: 'h', port: 7000 }], url: 'redis://h:6379' }, 'store.cluster'],
      [{ url: 'http://h:6379' }, 'store'],
      [{ url: 'redis://h', bogus: 1 }, 'store'],
    ];
    for (const [store, field] of cases) {
      expect(() => storeOf(store), JSON.stringify(store)).toThrow(ConfigError);
      expect(() => storeOf(store)).toThrow(field);
    }
    expect(storeOf('memory')).toBe('memory');
  });

  describe.skipIf(url === undefined)('against Redis', () => {
    const opened: Store[] = [];
    const prefixes: string[] = [];
    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close();
      for (const p of prefixes.splice(0)) await deleteKeys(url!, p);
    });

    it('every accepted form builds a working RedisStore with the configured prefix', async () => {
      const u = new URL(url!);
      const forms: unknown[] = [
        url!,
        { url: url!, keyPrefix: testPrefix('cfg'), connectTimeoutMs: 800, commandTimeoutMs: 400, operationTimeoutMs: 900 },
        { redis: { host: u.hostname, port: Number(u.port || 6379), db: 0 }, keyPrefix: testPrefix('cfg'), healthTimeoutMs: 900, maxReconnectDelayMs: 500 },
      ];
      for (const form of forms) {
        const spec = storeOf(form);
        prefixes.push(typeof spec === 'object' ? spec.keyPrefix : 'baton:once:cfg:');
        const store = createStore(spec);
        opened.push(store);
        expect(store.backend).toBe('redis');
        expect((await store.health()).ok, JSON.stringify(form)).toBe(true);
        const id = crypto.randomUUID();
        expect(await store.useOnce('cfg', id, 10_000)).toBe(true);
        expect(await store.useOnce('cfg', id, 10_000)).toBe(false);
      }
    });
  });
});
