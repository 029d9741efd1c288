/**
 * Builds the configured `Store` on Node: `'memory'` (or nothing) gives the in-process store; a `redis://` or
 * `rediss://` URL, or an options object (URL, Sentinel, Cluster), gives the Redis store.
 */
import { MemoryStore } from './memory.js';
import { RedisStore } from './redis.js';
import type { RedisStoreOptions } from './redis.js';
import type { Store } from './types.js';

export type StoreSpec = 'memory' | string | ({ url?: string } & RedisStoreOptions) | { backend: 'memory' };

export function createStore(spec: StoreSpec | undefined = 'memory'): Store {
  if (spec === 'memory' || spec === '' || spec === 'memory:') return new MemoryStore();
  if (typeof spec === 'string') {
    let protocol: string;
    try {
      protocol = new URL(spec).protocol;
    } catch {
      throw new TypeError('store: expected "memory" or a redis:// / rediss:// URL');
    }
    if (protocol !== 'redis:' && protocol !== 'rediss:') {
      throw new TypeError(`store: unsupported URL scheme "${protocol}" (expected redis: or rediss:)`);
    }
    return new RedisStore({ url: spec });
  }
  if ('backend' in spec) {
    if (spec.backend === 'memory') return new MemoryStore();
    throw new TypeError('store: unknown backend');
  }
  if (spec.url === undefined && spec.redis === undefined && spec.sentinels === undefined && spec.cluster === undefined) {
    throw new TypeError('store: a Redis store needs url, redis, sentinels or cluster');
  }
  if (spec.url !== undefined) {
    const protocol = safeProtocol(spec.url);
    if (protocol !== 'redis:' && protocol !== 'rediss:') {
      throw new TypeError('store: url must be a redis:// or rediss:// URL');
    }
  }
  return new RedisStore(spec);
}

function safeProtocol(url: string): string | undefined {
  try {
    return new URL(url).protocol;
  } catch {
    return undefined;
  }
}
