/**
 * The Store contract (src/store/types.ts): what TTS instances and verifiers rely on (T-08 single-use assertion ids, V-08
 * revocation, V-09 replay guard, rate limits with Retry-After), as one suite run against every backend: memory and
 * Redis in Node (test/store/contract.test.ts), the Durable Object inside workerd (test/workers/durable-object-store.test.ts).
 * Runtime-neutral: vitest and the Store interface only.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { rateLimitAll, type RateLimitCheck, type Store } from '../../src/store/types.js';
import { eventually } from './time.js';

export interface ContractBackend {
  name: string;
  /** the `backend` a store reports in `health()` */
  backend: string;
  make(): Store;
  cleanup?: () => Promise<void>;
  /** whether the backend pushes revocations to listeners (`onRevoke`) */
  pushesRevocations: boolean;
}

const nowSec = (): number => Math.floor(Date.now() / 1000);

/** Stores made by `make`, closed after each test (and the backend's cleanup run). */
function opened(b: Pick<ContractBackend, 'make' | 'cleanup'>): () => Store {
  const open: Store[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
    await b.cleanup?.();
  });
  return () => {
    const s = b.make();
    open.push(s);
    return s;
  };
}

/** One instance of a backend, on its own. */
export function storeContract(b: ContractBackend): void {
  describe(`Store contract: ${b.name}`, () => {
    const make = opened(b);
    singleUseIds(make);
    revocations(make);
    rateLimits(make);
    rateLimitsAll(make);

    it.skipIf(!b.pushesRevocations)('V-08 onRevoke: listeners hear a revocation with its until', async () => {
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
      expect(await make().health()).toMatchObject({ ok: true, backend: b.backend });
    });
  });
}

function singleUseIds(make: () => Store): void {
  it('T-08 V-09 useOnce: first use is accepted, a replay is refused, namespaces are separate', async () => {
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
}

function revocations(make: () => Store): void {
  it('V-08 revoke / isRevoked: only the revoked txn is revoked', async () => {
    const s = make();
    expect(await s.isRevoked('txn-1')).toBe(false);
    await s.revoke('txn-1', nowSec() + 600);
    expect(await s.isRevoked('txn-1')).toBe(true);
    expect(await s.isRevoked('txn-2')).toBe(false);
  });

  it('revoke: a revocation ends at its until, and a shorter later revoke does not shorten it', async () => {
    const s = make();
    // until is in whole seconds: now + 2 leaves at least one full second to see it revoked, even on a loaded machine
    await s.revoke('txn-exp', nowSec() + 2);
    expect(await s.isRevoked('txn-exp')).toBe(true);
    expect(await eventually(async () => !(await s.isRevoked('txn-exp')), 8000)).toBe(true);

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
}

function rateLimits(make: () => Store): void {
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
}

const MIN = 60_000;
const check = (key: string, limit: number, windowMs = MIN): RateLimitCheck => ({ key, limit, windowMs });

/**
 * `rateLimitAll` alone (for stores that cannot run the whole contract in Node): in order, each check counted as
 * `rateLimit` counts it, stopping at the first refusal (that check and the later ones are not counted), sharing
 * counters with `rateLimit`.
 */
export function rateLimitAllContract(b: Pick<ContractBackend, 'name' | 'make' | 'cleanup'>): void {
  describe(`rateLimitAll contract: ${b.name}`, () => rateLimitsAll(opened(b)));
}

function rateLimitsAll(make: () => Store): void {
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
}

/** Two clients of one backend (two TTS instances, a TTS and a verifier, two isolates): one truth. */
export function sharedStoreContract(name: string, make: () => Store): void {
  describe(`Store contract, two clients of one backend: ${name}`, () => {
    it('T-08 agree on useOnce: an id used through A is a replay through B', async () => {
      const [a, b] = [make(), make()];
      expect(await a.useOnce('jti', 'x1', 60_000)).toBe(true);
      expect(await b.useOnce('jti', 'x1', 60_000)).toBe(false);
    });

    it('50 parallel useOnce calls spread over two clients yield exactly one true', async () => {
      const [a, b] = [make(), make()];
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).useOnce('jti', 'x-race', 60_000)));
      expect(results.filter((r) => r)).toHaveLength(1);
    });

    it('share one rate-limit counter', async () => {
      const [a, b] = [make(), make()];
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).rateLimit('client-shared', 6, 60_000)));
      expect(results.filter((r) => r.allowed)).toHaveLength(6);
      expect((await a.rateLimit('client-shared', 6, 60_000)).allowed).toBe(false);
      expect((await b.rateLimit('client-shared', 6, 60_000)).allowed).toBe(false);
    });

    it('V-08 agree on revocation, which a later, shorter revocation never shortens', async () => {
      const [a, b] = [make(), make()];
      await a.revoke('txn-shared', nowSec() + 600);
      expect(await b.isRevoked('txn-shared')).toBe(true);
      await b.revoke('txn-shared', nowSec() - 10);
      expect(await a.isRevoked('txn-shared')).toBe(true);
    });
  });
}
