/**
 * Child process of cache-memory.test.ts (run with `node --expose-gc --import tsx`): fills a verifier's cache and
 * prints the real heap it holds (after full collections) next to the cache's own estimate, as one JSON line.
 *   args: COUNT PAD MODE CACHE_MAX_BYTES|default
 * MODE is the structure of a padding member of tctx.request_details: str (one long string), obj (empty objects),
 * arr (empty arrays), int (small integers), kv (an object with many members), nest (nested arrays).
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { createVerifier } from '../../src/verify/index.node.js';

const [count, pad, mode, maxBytesArg] = process.argv.slice(2);
const N = Number(count);
const P = Number(pad);
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'EdDSA', use: 'sig' };
const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64url');
const now = Math.floor(Date.now() / 1000);

function padding(): unknown {
  switch (mode) {
    case 'str':
      return 'x'.repeat(P);
    case 'obj':
      return Array.from({ length: Math.floor(P / 3) }, () => ({}));
    case 'arr':
      return Array.from({ length: Math.floor(P / 3) }, () => []);
    case 'int':
      return Array.from({ length: Math.floor(P / 2) }, () => 1);
    case 'kv':
      return Object.fromEntries(Array.from({ length: Math.floor(P / 8) }, (_, j) => [`k${j}`, j]));
    case 'nest':
      return Array.from({ length: Math.floor(P / 10) }, () => [[[[]]]]);
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}

function token(i: number): string {
  const h = b64(JSON.stringify({ alg: 'EdDSA', kid: 'k1', typ: 'txntoken+jwt' }));
  const p = b64(
    JSON.stringify({
      iss: 'https://tts.example', iat: now, exp: now + 300, aud: 'support.example', txn: `${i}-${crypto.randomUUID()}`, sub: 'alice',
      scope: 'tickets:read orders:read', req_wl: 'mcp', act: { sub: 'mcp' },
      tctx: { roles: ['user'], attr: { email: 'alice@example.com' }, request_details: { tool: 'get_ticket', pad: padding() } },
      rctx: { req_ip: '127.0.0.1' },
    }),
  );
  return `${h}.${p}.${b64(sign(null, Buffer.from(`${h}.${p}`), privateKey))}`;
}

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');
const tokens = Array.from({ length: N }, (_, i) => token(i));
const v = createVerifier({
  trustDomain: 'support.example', jwks: { keys: [jwk] }, onDecision: null, cacheSize: N,
  ...(maxBytesArg === 'default' ? {} : { cacheMaxBytes: Number(maxBytesArg) }),
});
gc();
gc();
const before = process.memoryUsage().heapUsed;
for (const t of tokens) await v.verify(t);
gc();
gc();
const after = process.memoryUsage().heapUsed;
const stats = v.cacheStats();
console.log(JSON.stringify({ mode, count: N, tokenChars: tokens[0]!.length, heapBytes: after - before, ...stats }));
