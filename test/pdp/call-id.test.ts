// The Cerbos call id (`cerbosCallId`): a ULID, 10 characters of milliseconds then 16 random, Crockford base32. Built as
// one string (src/pdp/call-id.ts); these pin what it was built from: the time asked, and one pool byte per character.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { callId } from '../../src/pdp/call-id.js';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** The milliseconds a ULID's first 10 characters encode. */
const timeOf = (id: string): number => [...id.slice(0, 10)].reduce((t, c) => t * 32 + ALPHABET.indexOf(c), 0);

afterEach(() => vi.restoreAllMocks());

describe('callId', () => {
  it('draws its random characters from the pool, one byte each (low 5 bits), 256 ids per 4 KiB draw', () => {
    // the module's pool starts empty: the first call draws; fill each draw with a known pattern
    let draws = 0;
    vi.spyOn(crypto, 'getRandomValues').mockImplementation(<T extends ArrayBufferView | null>(a: T): T => {
      const bytes = a as unknown as Uint8Array;
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + draws * 13 + 0xe0) & 0xff; // high bits set: masked off
      draws++;
      return a;
    });
    const ids = Array.from({ length: 257 }, () => callId(1_700_000_000_000));
    expect(draws).toBe(2);
    for (let k = 0; k < 257; k++) {
      const draw = k < 256 ? 0 : 1;
      const at = k < 256 ? k * 16 : 0;
      const want = Array.from({ length: 16 }, (_, j) => ALPHABET[((at + j) * 7 + draw * 13 + 0xe0) & 31]).join('');
      expect(ids[k]!.slice(10), `id ${k}`).toBe(want);
    }
  });

  it('encodes the time asked, also when it changes between calls (and back), from 0 to 2^48 - 1', () => {
    for (const ms of [0, 1, 31, 32, 1_700_000_000_000, 1_700_000_000_001, 1_700_000_000_000, 2 ** 48 - 1, 1_764_547_200_000]) {
      const id = callId(ms);
      expect(id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
      expect(timeOf(id), String(ms)).toBe(ms);
    }
    expect(callId(0).slice(0, 10)).toBe('0000000000');
    expect(callId(2 ** 48 - 1).slice(0, 10)).toBe('7ZZZZZZZZZ');
  });

  it('defaults to the clock, and ids differ', () => {
    const before = Date.now();
    const a = callId();
    const b = callId();
    expect(timeOf(a)).toBeGreaterThanOrEqual(before);
    expect(timeOf(b)).toBeLessThanOrEqual(Date.now());
    expect(a).not.toBe(b);
  });
});
