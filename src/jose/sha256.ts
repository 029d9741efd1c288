/**
 * Synchronous SHA-256 (FIPS 180-4) for short inputs on hot paths (client-secret comparison), where Web Crypto's
 * async digest costs more in dispatch than the hash itself. Runs everywhere (no Node API, no eval).
 */
const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,
  0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
  0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
  0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,
  0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** The round constants as int32 (the arithmetic below stays in 32-bit integers: no heap numbers in the loops). */
const K32 = Int32Array.from(K);
/** Scratch state, reused by every call (synchronous, never re-entered): the message schedule and the last block(s). */
const W = new Int32Array(64);
const TAIL = new Uint8Array(128);
const H = new Int32Array(8);

/** Compresses the 64-byte block of `bytes` at `off` into H. */
function compress(bytes: Uint8Array, off: number): void {
  for (let i = 0; i < 16; i++, off += 4) W[i] = (bytes[off]! << 24) | (bytes[off + 1]! << 16) | (bytes[off + 2]! << 8) | bytes[off + 3]!;
  for (let i = 16; i < 64; i++) {
    const a = W[i - 15]!, b = W[i - 2]!;
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
    W[i] = (W[i - 16]! + s0 + W[i - 7]! + s1) | 0;
  }
  let a = H[0]!, b = H[1]!, c = H[2]!, d = H[3]!, e = H[4]!, f = H[5]!, g = H[6]!, hh = H[7]!;
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (hh + S1 + ch + K32[i]! + W[i]!) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const maj = (a & b) ^ (a & c) ^ (b & c);
    const t2 = (S0 + maj) | 0;
    hh = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
  }
  H[0] = (H[0]! + a) | 0; H[1] = (H[1]! + b) | 0; H[2] = (H[2]! + c) | 0; H[3] = (H[3]! + d) | 0;
  H[4] = (H[4]! + e) | 0; H[5] = (H[5]! + f) | 0; H[6] = (H[6]! + g) | 0; H[7] = (H[7]! + hh) | 0;
}

export function sha256(data: Uint8Array): Uint8Array {
  H[0] = 0x6a09e667; H[1] = 0xbb67ae85; H[2] = 0x3c6ef372; H[3] = 0xa54ff53a;
  H[4] = 0x510e527f; H[5] = 0x9b05688c; H[6] = 0x1f83d9ab; H[7] = 0x5be0cd19;
  const n = data.length;
  const whole = n - (n % 64); // the bytes of the complete blocks, read in place (not n & ~63: int32, wrong from 2 GiB)
  for (let off = 0; off < whole; off += 64) compress(data, off);
  // the rest, 0x80, zeros and the length in bits (big-endian, 64 bits): one block, or two when the rest is > 55 bytes
  const rest = n - whole;
  const tail = rest < 56 ? 64 : 128;
  for (let i = 0; i < rest; i++) TAIL[i] = data[whole + i]!;
  TAIL[rest] = 0x80;
  for (let i = rest + 1; i < tail - 8; i++) TAIL[i] = 0;
  const hi = Math.floor(n / 0x20000000); // n * 8 / 2^32
  const lo = (n << 3) >>> 0;
  TAIL[tail - 8] = hi >>> 24; TAIL[tail - 7] = hi >>> 16; TAIL[tail - 6] = hi >>> 8; TAIL[tail - 5] = hi;
  TAIL[tail - 4] = lo >>> 24; TAIL[tail - 3] = lo >>> 16; TAIL[tail - 2] = lo >>> 8; TAIL[tail - 1] = lo;
  compress(TAIL, 0);
  if (tail === 128) compress(TAIL, 64);
  const out = new Uint8Array(32);
  for (let i = 0, j = 0; i < 8; i++, j += 4) {
    const v = H[i]!;
    out[j] = v >>> 24; out[j + 1] = v >>> 16; out[j + 2] = v >>> 8; out[j + 3] = v;
  }
  return out;
}
