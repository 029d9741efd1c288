/** Cerbos's `cerbosCallId`: a ULID (48-bit time in ms, 80 random bits, Crockford base32), one per call. */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export function callId(nowMs: number = Date.now()): string {
  let time = '';
  let t = nowMs;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let rand = '';
  for (let i = 0; i < 16; i++) rand += ALPHABET[bytes[i]! & 31]!;
  return time + rand;
}
