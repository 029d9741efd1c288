// The Store contract (test/helpers/store-contract.ts, the same suite as memory and Redis run in Node) on the Durable
// Object backend, inside workerd, with one object and with four shards: separate clients (as separate isolates are)
// share one strongly consistent truth; an unreachable object fails closed with StoreUnavailableError.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { DurableObjectStore, type DurableObjectNamespaceLike } from '../../src/store/durable-object.js';
import { StoreUnavailableError } from '../../src/store/types.js';
import { sharedStoreContract, storeContract } from '../helpers/store-contract.js';

const id = () => crypto.randomUUID();

/** The Durable Object namespace with every object name prefixed: separate objects, so separate state. */
function prefixed(ns: DurableObjectNamespaceLike, prefix: string): DurableObjectNamespaceLike {
  return { idFromName: (name) => ns.idFromName(`${prefix}${name}`), get: (objectId) => ns.get(objectId as never) };
}

for (const shards of [1, 4]) {
  // each store of the single-client contract gets objects of its own (the contract reuses ids from test to test)
  storeContract({
    name: `durable-object, ${shards} shard(s)`,
    backend: 'durable-object',
    pushesRevocations: false,
    make: () => new DurableObjectStore(prefixed(env.BATON_STORE_DO, `contract-${id()}-`), { shards }),
  });
  // separate clients (as separate isolates are) of the same objects
  const shared = prefixed(env.BATON_STORE_DO, `shared-${id()}-`);
  sharedStoreContract(`durable-object, ${shards} shard(s)`, () => new DurableObjectStore(shared, { shards }));
}

describe('failing closed', () => {
  const throwing: DurableObjectNamespaceLike = {
    idFromName: (n) => n,
    get: () => ({ fetch: () => Promise.reject(new Error('network lost')) }),
  };
  const silent: DurableObjectNamespaceLike = { idFromName: (n) => n, get: () => ({ fetch: () => new Promise<Response>(() => {}) }) };
  const erroring: DurableObjectNamespaceLike = { idFromName: (n) => n, get: () => ({ fetch: async () => new Response('overloaded', { status: 500 }) }) };

  it.each([
    ['an object that cannot be reached', throwing],
    ['an object that never answers', silent],
    ['an object that answers 500', erroring],
  ])('%s: every operation throws StoreUnavailableError, health says not ok', async (_name, ns) => {
    const s = new DurableObjectStore(ns, { timeoutMs: 50 });
    await expect(s.useOnce('client_assertion', id(), 1000)).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(s.isRevoked(id())).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(s.revoke(id(), 1)).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(s.rateLimit('k', 1, 1000)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect((await s.health()).ok).toBe(false);
  });

  it('the object refuses malformed operations', async () => {
    const stub = env.BATON_STORE_DO.get(env.BATON_STORE_DO.idFromName('global') as never);
    const res = await stub.fetch('https://baton-store.internal/op', { method: 'POST', body: JSON.stringify({ op: 'useOnce', namespace: '', id: 'x', ttlMs: 1 }) });
    expect(res.status).toBe(400);
    expect((await stub.fetch('https://baton-store.internal/op', { method: 'POST', body: '{"op":"drop_everything"}' })).status).toBe(400);
    expect((await stub.fetch('https://baton-store.internal/op')).status).toBe(405);
  });
});
