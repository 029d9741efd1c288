/**
 * Single use and revocation at their edges, where the Store contract (test/helpers/store-contract.ts) does not look
 * (found by mutation testing, docs/mutation.md): the memory store on a manual clock (exactly at expiry, and across its
 * lazy sweep), and the Redis revocation feed (replay to a late listener, junk published on the channel).
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory.js';
import { RedisStore } from '../../src/store/redis.js';
import { deleteKeys, REDIS_SKIP_REASON, redisUrl, startTcpProxy, testPrefix } from '../helpers/redis.js';
import { eventually } from '../helpers/time.js';

describe('MemoryStore on a manual clock', () => {
  const T0 = 1_800_000_000_000;

  it('T-08 V-09 a single-use id is refused until exactly its ttl has passed, then accepted at once', async () => {
    let now = T0;
    const s = new MemoryStore({ now: () => now });
    expect(await s.useOnce('jti', 'a', 1000)).toBe(true);
    now = T0 + 999;
    expect(await s.useOnce('jti', 'a', 1000)).toBe(false);
    now = T0 + 1000;
    expect(await s.useOnce('jti', 'a', 1000)).toBe(true); // the first call after expiry, not after some sweep
    expect(await s.useOnce('jti', 'a', 1000)).toBe(false);
  });

  it('V-08 a revocation holds until exactly its until (seconds), then ends', async () => {
    let now = T0;
    const s = new MemoryStore({ now: () => now });
    await s.revoke('txn-1', T0 / 1000 + 10);
    now = T0 + 9_999;
    expect(await s.isRevoked('txn-1')).toBe(true);
    now = T0 + 10_000;
    expect(await s.isRevoked('txn-1')).toBe(false);
  });

  it('T-08 V-08 V-09 the lazy sweep never drops a live single-use id, revocation or rate-limit window', async () => {
    let now = T0;
    const s = new MemoryStore({ now: () => now });
    expect(await s.useOnce('jti', 'live', 60_000)).toBe(true);
    await s.revoke('txn-live', T0 / 1000 + 60);
    expect((await s.rateLimit('client', 1, 60_000)).allowed).toBe(true);
    now = T0 + 1000;
    // enough operations for several sweeps (one every 64), each looking at every entry
    for (let i = 0; i < 300; i++) await s.isRevoked(`other-${i}`);
    expect(await s.useOnce('jti', 'live', 60_000)).toBe(false);
    expect(await s.isRevoked('txn-live')).toBe(true);
    expect((await s.rateLimit('client', 1, 60_000)).allowed).toBe(false);
    expect(s.entryCounts()).toEqual({ once: 1, revoked: 1, windows: 1 });
  });

  it('memory follows live entries: every 64th operation sweeps up to 256 expired entries of each map, those ending exactly now included', async () => {
    let now = T0;
    const s = new MemoryStore({ now: () => now });
    // operations 1..900 of a fresh store: 300 entries in each map, all ending at T0 + 1000 (no sweep finds one expired)
    for (let i = 0; i < 300; i++) expect(await s.useOnce('jti', `id-${i}`, 1000)).toBe(true);
    for (let i = 0; i < 300; i++) await s.revoke(`txn-${i}`, T0 / 1000 + 1);
    for (let i = 0; i < 300; i++) expect((await s.rateLimit(`client-${i}`, 1, 1000)).allowed).toBe(true);
    expect(s.entryCounts()).toEqual({ once: 300, revoked: 300, windows: 300 });
    now = T0 + 1000; // every entry ends exactly now
    // operations 901..959 add nothing and sweep nothing: the next sweep is the 960th operation
    for (let i = 0; i < 59; i++) expect(await s.isRevoked('unknown')).toBe(false);
    expect(s.entryCounts()).toEqual({ once: 300, revoked: 300, windows: 300 });
    await s.isRevoked('unknown'); // the 960th: one sweep, 256 entries of each map looked at and dropped
    expect(s.entryCounts()).toEqual({ once: 44, revoked: 44, windows: 44 });
    for (let i = 0; i < 64; i++) await s.isRevoked('unknown'); // the 1024th: the rest
    expect(s.entryCounts()).toEqual({ once: 0, revoked: 0, windows: 0 });
  });

  it('each sweep goes on from where the last one stopped, back to the oldest after the youngest, and keeps every live window', async () => {
    let now = T0;
    const s = new MemoryStore({ now: () => now });
    // operations 1..400: windows 0..399, the even ones ending at T0 + 1000, the odd ones an hour later
    for (let i = 0; i < 400; i++) expect((await s.rateLimit(`w-${i}`, 1, i % 2 === 0 ? 1000 : 3_600_000)).allowed).toBe(true);
    now = T0 + 1000;
    for (let i = 0; i < 47; i++) await s.isRevoked('unknown'); // operations 401..447
    expect(s.entryCounts().windows).toBe(400);
    await s.isRevoked('unknown'); // the 448th: windows 0..255 looked at, their 128 even ones dropped
    expect(s.entryCounts().windows).toBe(272);
    for (let i = 0; i < 64; i++) await s.isRevoked('unknown'); // the 512th: 256..399 (72 dropped), then 112 odd ones from the oldest
    expect(s.entryCounts().windows).toBe(200);
    // no live window was dropped: each odd one is still spent (a dropped one would allow a call again)
    for (let i = 1; i < 400; i += 2) expect((await s.rateLimit(`w-${i}`, 1, 3_600_000)).allowed, `w-${i}`).toBe(false);
    expect(s.entryCounts().windows).toBe(200);
  });
});

const url = redisUrl();
if (url === undefined) console.warn(`[single use and revocation] Redis cases skipped: ${REDIS_SKIP_REASON}`);

describe.skipIf(url === undefined)('RedisStore revocation feed', () => {
  const prefixes: string[] = [];
  const stores: RedisStore[] = [];
  const open = (keyPrefix: string) => {
    const s = new RedisStore({ url: url ?? '', keyPrefix, logger: () => {} });
    stores.push(s);
    return s;
  };
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    for (const p of prefixes) await deleteKeys(url!, p);
  });
  const nowSec = () => Math.floor(Date.now() / 1000);

  it('V-08 a listener that arrives after revocations were stored hears each of them (replay), then the feed is live', async () => {
    const prefix = testPrefix('replay');
    prefixes.push(prefix);
    const writer = open(prefix);
    const until = nowSec() + 300;
    for (let i = 0; i < 3; i++) await writer.revoke(`txn-old-${i}`, until + i);
    // a value under the revocation prefix that no revocation wrote (not a number) is not replayed
    const other = new Redis(url!);
    try {
      await other.set(`${prefix}rev:txn-junk`, 'not a number', 'EX', 300);
    } finally {
      other.disconnect();
    }
    const reader = open(prefix);
    const heard = new Map<string, number>();
    const liveWhileReplaying: boolean[] = [];
    reader.onRevoke((t, u) => {
      heard.set(t, u);
      liveWhileReplaying.push(reader.revocationFeedLive());
    });
    expect(await eventually(() => reader.revocationFeedLive(), 5000)).toBe(true);
    expect(Object.fromEntries(heard)).toEqual({ 'txn-old-0': until, 'txn-old-1': until + 1, 'txn-old-2': until + 2 });
    // the feed is not live (a local miss proves nothing) until the replay has ended
    expect(liveWhileReplaying).toEqual([false, false, false]);
  });

  it('V-08 a frozen subscriber link stops counting as live within revocationFeedMaxLagMs, long before a command times out', async () => {
    const prefix = testPrefix('frozen');
    prefixes.push(prefix);
    const proxy = await startTcpProxy(Number(new URL(url!).port || 6379));
    const s = new RedisStore({ url: proxy.url, keyPrefix: prefix, logger: () => {}, revocationFeedMaxLagMs: 200, commandTimeoutMs: 120_000, operationTimeoutMs: 120_000 });
    try {
      s.onRevoke(() => {});
      expect(await eventually(() => s.revocationFeedLive(), 5000)).toBe(true);
      proxy.pause(); // nothing forwarded, nothing closed: the PINGs of the feed go unanswered
      expect(await eventually(() => !s.revocationFeedLive(), 10_000)).toBe(true);
      proxy.resume();
      expect(await eventually(() => s.revocationFeedLive(), 10_000)).toBe(true);
    } finally {
      proxy.resume();
      await s.close();
      await proxy.close();
    }
  });

  it('V-08 a listener that throws is reported (one log line) and the other listeners still hear the revocation', async () => {
    const prefix = testPrefix('throws');
    prefixes.push(prefix);
    const lines: string[] = [];
    const s = new RedisStore({ url: url!, keyPrefix: prefix, logger: (line) => lines.push(line) });
    stores.push(s);
    const heard: Array<[string, number]> = [];
    s.onRevoke(() => {
      throw new Error('listener failed');
    });
    s.onRevoke((t, u) => heard.push([t, u]));
    expect(await eventually(() => s.revocationFeedLive(), 5000)).toBe(true);
    const until = nowSec() + 300;
    await s.revoke('txn-heard', until);
    expect(await eventually(() => heard.length > 0, 2000)).toBe(true);
    expect(heard).toEqual([['txn-heard', until]]);
    expect(lines).toEqual(['baton store redis [listener]: revocation listener threw: listener failed']);
  });

  it('V-08 junk published on the revocation channel is ignored; the feed stays up and delivers the next revocation', async () => {
    const prefix = testPrefix('junk');
    prefixes.push(prefix);
    const s = open(prefix);
    const heard: Array<[unknown, unknown]> = [];
    s.onRevoke((t, u) => heard.push([t, u]));
    expect(await eventually(() => s.revocationFeedLive(), 5000)).toBe(true);
    const other = new Redis(url!);
    try {
      for (const junk of ['not json', 'null', '42', '"txn"', '{"txn":7,"until":100}', '{"txn":"a","until":"100"}', '{"txn":"a","until":1e999}', '{"until":100}'])
        await other.publish(`${prefix}revocations`, junk);
    } finally {
      other.disconnect();
    }
    const until = nowSec() + 300;
    await s.revoke('txn-real', until);
    expect(await eventually(() => heard.length > 0, 2000)).toBe(true);
    expect(heard).toEqual([['txn-real', until]]);
    expect(s.revocationFeedLive()).toBe(true);
  });

  it('V-08 a revocation with a non-finite until is refused before anything is stored or published', async () => {
    const prefix = testPrefix('nan');
    prefixes.push(prefix);
    const s = open(prefix);
    await expect(s.revoke('txn-nan', Number.NaN)).rejects.toThrow(RangeError);
    await expect(s.revoke('txn-inf', Number.POSITIVE_INFINITY)).rejects.toThrow(RangeError);
    expect(await s.isRevoked('txn-nan')).toBe(false);
  });
});
