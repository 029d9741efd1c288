// The Store contract on the Durable Object backend, inside workerd: separate clients (as separate isolates are) share
// one strongly consistent truth; an unreachable object fails closed with StoreUnavailableError.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { DurableObjectStore, type DurableObjectNamespaceLike } from '../../src/store/durable-object.js';
import { StoreUnavailableError } from '../../src/store/types.js';

const id = () => crypto.randomUUID();

describe.each([1, 4])('DurableObjectStore, %i shard(s)', (shards) => {
  const a = new DurableObjectStore(env.BATON_STORE_DO, { shards });
  const b = new DurableObjectStore(env.BATON_STORE_DO, { shards });

  it('useOnce: first use wins across clients, namespaces are separate', async () => {
    const jti = id();
    expect(await a.useOnce('client_assertion', jti, 60_000)).toBe(true);
    expect(await b.useOnce('client_assertion', jti, 60_000)).toBe(false);
    expect(await a.useOnce('client_assertion', jti, 60_000)).toBe(false);
    expect(await b.useOnce('replay:orders', jti, 60_000)).toBe(true);
  });

  it('revocations: seen by every client until their end, never shortened', async () => {
    const txn = id();
    const future = Math.floor(Date.now() / 1000) + 300;
    expect(await b.isRevoked(txn)).toBe(false);
    await a.revoke(txn, future);
    expect(await b.isRevoked(txn)).toBe(true);
    await b.revoke(txn, Math.floor(Date.now() / 1000) - 10); // an earlier end does not lift it
    expect(await a.isRevoked(txn)).toBe(true);
    const past = id();
    await a.revoke(past, Math.floor(Date.now() / 1000) - 10);
    expect(await b.isRevoked(past)).toBe(false);
  });

  it('rate limits count calls of every client in one window', async () => {
    const key = `c:${id()}`;
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await (i % 2 === 0 ? a : b).rateLimit(key, 3, 60_000));
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
    expect(results.map((r) => r.remaining)).toEqual([2, 1, 0, 0]);
    expect(results[3]!.limit).toBe(3);
    expect(results[3]!.retryAfterSec).toBeGreaterThanOrEqual(1);
    expect(results[3]!.retryAfterSec).toBeLessThanOrEqual(60);
    expect((await a.rateLimit(`c:${id()}`, 3, 60_000)).allowed).toBe(true); // another key, another window
  });

  it('health', async () => {
    expect(await a.health()).toEqual({ ok: true, backend: 'durable-object' });
  });
});

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
