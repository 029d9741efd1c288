import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256 } from '../../src/jose/sha256.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('sha256 (secret comparison on the exchange hot path)', () => {
  it('matches the FIPS 180-4 vectors', () => {
    expect(hex(sha256(new TextEncoder().encode('')))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(hex(sha256(new TextEncoder().encode('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
  it('matches node:crypto for every length across block boundaries', () => {
    for (let n = 0; n < 300; n++) {
      const data = randomBytes(n);
      expect(hex(sha256(data)), `length ${n}`).toBe(createHash('sha256').update(data).digest('hex'));
    }
  });
  it('matches node:crypto for long inputs, and each call starts afresh (its scratch state is reused)', () => {
    for (const n of [1000, 4103, 65_536, 100_003]) {
      const data = randomBytes(n);
      expect(hex(sha256(data)), `length ${n}`).toBe(createHash('sha256').update(data).digest('hex'));
    }
    const a = hex(sha256(new TextEncoder().encode('abc')));
    sha256(randomBytes(200)); // two tail blocks, every scratch byte written
    expect(hex(sha256(new TextEncoder().encode('abc')))).toBe(a);
    const sub = new Uint8Array(randomBytes(100).buffer, 7, 60); // a view at an offset into a larger buffer
    expect(hex(sha256(sub))).toBe(createHash('sha256').update(sub).digest('hex'));
  });
});
