/**
 * The verified-token cache (src/verify/cache.ts) at its edges, where the verifier's own tests (test/verify/verifier.test.ts)
 * do not look (found by mutation testing, docs/mutation.md): the byte estimate of an entry, the byte bound, what is made
 * room for first, and the sharing of concurrent verifications. The estimate's calibration against the real heap is
 * test/verify/cache-memory.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { entryBytes, InFlight, TokenCache } from '../../src/verify/cache.js';
import type { TxnContext } from '../../src/verify/context.js';

/** What the cache reads of a context: its `exp` and its claims (for the estimate). */
function ctx(exp: number, claims: Record<string, unknown> = {}): TxnContext {
  return { exp, claims } as unknown as TxnContext;
}

describe('entryBytes: the estimated heap of one cached verification', () => {
  it('counts the token, then per claim value: strings by characters (two bytes each beyond Latin-1), boxed numbers, array slots, object members', () => {
    expect(entryBytes('', {})).toBe(1024 + 56);
    expect(entryBytes('abc', null)).toBe(1024 + 3);
    // one member: 56 + 32 for the object, 16 + 1 for the key, then the value
    const one = (v: unknown) => entryBytes('', { k: v }) - (1024 + 56 + 32 + 17);
    expect(one('alice')).toBe(16 + 5);
    expect(one('ÿÿ')).toBe(16 + 2); // U+00FF is still one byte a character
    expect(one('aĀ')).toBe(16 + 4); // U+0100: every character of the string counts two
    expect(one(7)).toBe(0);
    expect(one(2 ** 30 - 1)).toBe(0); // a small integer is not boxed
    expect(one(2 ** 30)).toBe(16);
    expect(one(-(2 ** 30))).toBe(16);
    expect(one(-(2 ** 30) + 1)).toBe(0);
    expect(one(1.5)).toBe(16);
    expect(one(true)).toBe(0);
    expect(one(null)).toBe(0);
    expect(one([])).toBe(56);
    expect(one(['ab', 1])).toBe(56 + 2 * 8 + (16 + 2));
    expect(one({ x: 'é', yy: [1] })).toBe(56 + 2 * 32 + (16 + 1) + (16 + 1) + (16 + 2) + (56 + 8));
  });
});

describe('TokenCache', () => {
  const T0 = 1_800_000_000_000;
  const exp = T0 / 1000 + 300;
  const bytes = entryBytes('tok', {});

  it('keeps an entry until exactly its exp, then drops it on the next read', () => {
    const c = new TokenCache({ maxEntries: 10, maxBytes: 1 << 20, now: () => T0 });
    const x = ctx(exp);
    c.put('sig', 'tok', x);
    expect(c.get('tok', 'sig', exp * 1000 - 1)).toBe(x);
    expect(c.stats()).toEqual({ entries: 1, bytes });
    expect(c.get('tok', 'sig', exp * 1000)).toBeUndefined();
    expect(c.stats()).toEqual({ entries: 0, bytes: 0 });
  });

  it('a hit needs the whole token, not only its signature', () => {
    const c = new TokenCache({ maxEntries: 10, maxBytes: 1 << 20, now: () => T0 });
    c.put('sig', 'tok', ctx(exp));
    expect(c.get('tok2', 'sig', T0)).toBeUndefined();
    expect(c.stats().entries).toBe(1);
  });

  it('putting the same signature again replaces the entry and its bytes', () => {
    const c = new TokenCache({ maxEntries: 10, maxBytes: 1 << 20, now: () => T0 });
    c.put('sig', 'tok', ctx(exp));
    const y = ctx(exp + 1);
    c.put('sig', 'tok', y);
    expect(c.stats()).toEqual({ entries: 1, bytes });
    expect(c.get('tok', 'sig', T0)).toBe(y);
  });

  it('is disabled by 0 entries, and never holds an entry larger than the byte bound', () => {
    const off = new TokenCache({ maxEntries: 0, maxBytes: 1 << 20, now: () => T0 });
    off.put('sig', 'tok', ctx(exp));
    expect(off.stats()).toEqual({ entries: 0, bytes: 0 });
    const small = new TokenCache({ maxEntries: 10, maxBytes: bytes - 1, now: () => T0 });
    small.put('sig', 'tok', ctx(exp));
    expect(small.stats()).toEqual({ entries: 0, bytes: 0 });
    const exact = new TokenCache({ maxEntries: 10, maxBytes: bytes, now: () => T0 });
    exact.put('sig', 'tok', ctx(exp));
    expect(exact.stats()).toEqual({ entries: 1, bytes });
  });

  it('at its byte bound drops the least recently used entry (a hit makes an entry young)', () => {
    const c = new TokenCache({ maxEntries: 100, maxBytes: 2 * bytes, now: () => T0 });
    const a = ctx(exp), b = ctx(exp), d = ctx(exp);
    c.put('a', 'tok', a);
    c.put('b', 'tok', b);
    expect(c.get('tok', 'a', T0)).toBe(a); // a is now younger than b
    c.put('d', 'tok', d);
    expect(c.stats()).toEqual({ entries: 2, bytes: 2 * bytes });
    expect(c.get('tok', 'b', T0)).toBeUndefined();
    expect(c.get('tok', 'a', T0)).toBe(a);
    expect(c.get('tok', 'd', T0)).toBe(d);
  });

  it('at its entry bound drops expired entries before live ones', () => {
    let now = T0;
    const c = new TokenCache({ maxEntries: 2, maxBytes: 1 << 20, now: () => now });
    const live = ctx(exp);
    c.put('live', 'tok', live);
    c.put('short', 'tok', ctx(T0 / 1000 + 1)); // the younger: least-recently-used alone would drop live
    now = T0 + 1000; // short ends exactly now
    const next = ctx(exp);
    c.put('next', 'tok', next);
    expect(c.stats()).toEqual({ entries: 2, bytes: 2 * bytes });
    expect(c.get('tok', 'live', now)).toBe(live);
    expect(c.get('tok', 'next', now)).toBe(next);
  });

  it('making room sweeps at most 64 expired entries per put (a verification never walks the whole cache)', () => {
    let now = T0;
    const c = new TokenCache({ maxEntries: 100, maxBytes: 1 << 20, now: () => now });
    for (let i = 0; i < 100; i++) c.put(`s${i}`, 'tok', ctx(T0 / 1000 + 1)); // all end at T0 + 1 s
    now = T0 + 1000;
    c.put('next', 'tok', ctx(exp)); // full: the first 64 (expired) go, then there is room
    expect(c.stats()).toEqual({ entries: 100 - 64 + 1, bytes: (100 - 64 + 1) * bytes });
    expect(c.get('tok', 's63', T0)).toBeUndefined();
    expect(c.get('tok', 's64', T0)).toBeDefined(); // read before its end: still there
  });

  it('clear empties it', () => {
    const c = new TokenCache({ maxEntries: 10, maxBytes: 1 << 20, now: () => T0 });
    c.put('sig', 'tok', ctx(exp));
    c.clear();
    expect(c.stats()).toEqual({ entries: 0, bytes: 0 });
    expect(c.get('tok', 'sig', T0)).toBeUndefined();
  });
});

describe('InFlight', () => {
  it('concurrent calls for one key share one promise; it is forgotten once settled, fulfilled or rejected', async () => {
    const f = new InFlight<number>();
    let starts = 0;
    const settled: number[] = [];
    let release!: (v: number) => void;
    const start = () => {
      starts++;
      return new Promise<number>((r) => (release = r));
    };
    const p1 = f.share('k', start, (v) => settled.push(v));
    const p2 = f.share('k', start, (v) => settled.push(v));
    expect(p2).toBe(p1);
    expect(starts).toBe(1);
    release(7);
    expect(await p1).toBe(7);
    expect(settled).toEqual([7]); // once, not once per caller
    const p3 = f.share('k', () => Promise.reject(new Error('refused')), () => settled.push(-1));
    expect(p3).not.toBe(p1);
    await expect(p3).rejects.toThrow('refused');
    await Promise.resolve();
    const p4 = f.share('k', () => Promise.resolve(8), (v) => settled.push(v));
    expect(p4).not.toBe(p3);
    expect(await p4).toBe(8);
    await Promise.resolve();
    expect(settled).toEqual([7, 8]);
  });
});
