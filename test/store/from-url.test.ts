/** createStore: the configured backend, and configuration mistakes named without echoing secrets. */
import { describe, expect, it } from 'vitest';
import { createStore } from '../../src/store/from-url.node.js';
import { MemoryStore } from '../../src/store/memory.js';
import { RedisStore } from '../../src/store/redis.js';
import { deleteKeys, REDIS_SKIP_REASON, redisUrl, testPrefix } from '../helpers/redis.js';

const url = redisUrl();

describe('createStore', () => {
  it('gives the memory store for "memory" and by default', async () => {
    const a = createStore('memory');
    const b = createStore();
    expect(a).toBeInstanceOf(MemoryStore);
    expect(b.backend).toBe('memory');
    await a.close();
    await b.close();
  });

  it('refuses other URL schemes and garbage without echoing the value', () => {
    expect(() => createStore('http://user:hunter2@example.test')).toThrow(/unsupported URL scheme/);
    try {
      createStore('not a url hunter2');
    } catch (e) {
      expect((e as Error).message).not.toContain('hunter2');
    }
    expect(() => createStore('not a url hunter2')).toThrow(TypeError);
    expect(() => createStore({ keyPrefix: 'x:' })).toThrow(/needs url/);
    expect(() => createStore({ url: 'http://localhost' })).toThrow(/redis:\/\//);
  });

  it.skipIf(url === undefined)(`gives a working RedisStore for a redis:// URL and options ${url ? '' : `(${REDIS_SKIP_REASON})`}`, async () => {
    const viaString = createStore(url ?? '');
    expect(viaString).toBeInstanceOf(RedisStore);
    expect((viaString as RedisStore).keyPrefix).toBe('baton:');
    expect((await viaString.health()).ok).toBe(true);
    await viaString.close();

    const keyPrefix = testPrefix('from-url');
    const viaOptions = createStore({ url: url ?? '', keyPrefix });
    try {
      expect(viaOptions.backend).toBe('redis');
      expect(await viaOptions.useOnce('jti', 'one', 60_000)).toBe(true);
      expect(await viaOptions.useOnce('jti', 'one', 60_000)).toBe(false);
    } finally {
      await viaOptions.close();
      await deleteKeys(url ?? '', keyPrefix);
    }
  });
});
