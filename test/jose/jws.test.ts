// The compact-JWS layer under every profile, with both signature backends: Web Crypto (Workers) and node:crypto (Node).
import { base64url, createLocalJWKSet, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { nodeJwsCrypto, nodeJwsCryptoPooled } from '../../src/jose/crypto.node.js';
import { JwsFormatError, parseCompactJws, signCompactJws, verifyParsedJws, webCryptoJws, type JwsCrypto } from '../../src/jose/jws.js';
import { JwtProfileError, verifyTxnToken } from '../../src/jose/profiles.js';

type Alg = 'EdDSA' | 'Ed25519' | 'ES256' | 'ES384' | 'ES512' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512';

async function keyPair(alg: Alg, kid: string) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg };
  return { privateKey, publicKey, jwk };
}

/** one 2048-bit RSA key for the six RSA algorithms (RSA key generation is slow; mutation testing reruns this file) */
let rsa: Promise<{ privateJwk: JWK; publicJwk: JWK }> | undefined;
async function rsaPair(alg: Alg, kid: string) {
  rsa ??= generateKeyPair('RS256', { extractable: true }).then(async (p) => ({ privateJwk: await exportJWK(p.privateKey), publicJwk: await exportJWK(p.publicKey) }));
  const { privateJwk, publicJwk } = await rsa;
  const jwk = { ...publicJwk, kid, alg };
  return { privateKey: (await importJWK({ ...privateJwk, alg }, alg)) as CryptoKey, publicKey: (await importJWK(jwk, alg)) as CryptoKey, jwk };
}

/** one key pair per algorithm for the whole file, shared by both backends */
const pairs = new Map<Alg, ReturnType<typeof keyPair>>();
const pairOf = (alg: Alg) => {
  let p = pairs.get(alg);
  if (p === undefined) pairs.set(alg, (p = /^[RP]S/.test(alg) ? rsaPair(alg, `k-${alg}`) : keyPair(alg, `k-${alg}`)));
  return p;
};

const now = Math.floor(Date.now() / 1000);
const claims = { txn: 't-1', sub: 'alice', scope: 'tickets:read', req_wl: 'mcp', iat: now, exp: now + 60, aud: 'support.example' };

describe.each<[string, JwsCrypto]>([
  ['webcrypto', webCryptoJws],
  ['node:crypto', nodeJwsCrypto],
  ['node:crypto on the thread pool', nodeJwsCryptoPooled],
])('JWS with %s', (_name, backend) => {
  it.each(['EdDSA', 'Ed25519', 'ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const)('%s: what it signs verifies with jose and itself; what jose signs verifies here', async (alg) => {
    const { privateKey, jwk } = await pairOf(alg);
    const getKey = createLocalJWKSet({ keys: [jwk] });
    const ours = await signCompactJws({ kid: jwk.kid, typ: 'txntoken+jwt' }, claims, alg, privateKey, backend);
    expect(await verifyParsedJws(parseCompactJws(ours, backend), alg, getKey, backend)).toBe(true);
    await expect(jwtVerify(ours, getKey)).resolves.toMatchObject({ payload: { sub: 'alice' } }); // an independent verifier agrees
    const theirs = await new SignJWT(claims).setProtectedHeader({ alg, kid: jwk.kid, typ: 'txntoken+jwt' }).sign(privateKey);
    expect(await verifyParsedJws(parseCompactJws(theirs, backend), alg, getKey, backend)).toBe(true);
  });

  it('a flipped signature bit, a changed payload, or a signature of another key never verifies', async () => {
    const a = await keyPair('EdDSA', 'a');
    const b = await keyPair('EdDSA', 'b');
    const getKey = createLocalJWKSet({ keys: [a.jwk] });
    const token = await signCompactJws({ kid: 'a' }, claims, 'EdDSA', a.privateKey, backend);
    const [h, p, s] = token.split('.') as [string, string, string];
    const sig = base64url.decode(s);
    sig[0] = sig[0]! ^ 1;
    expect(await verifyParsedJws(parseCompactJws(`${h}.${p}.${base64url.encode(sig)}`), 'EdDSA', getKey, backend)).toBe(false);
    const other = base64url.encode(JSON.stringify({ ...claims, sub: 'bob' }));
    expect(await verifyParsedJws(parseCompactJws(`${h}.${other}.${s}`), 'EdDSA', getKey, backend)).toBe(false);
    const byB = await signCompactJws({ kid: 'a' }, claims, 'EdDSA', b.privateKey, backend);
    expect(await verifyParsedJws(parseCompactJws(byB), 'EdDSA', getKey, backend)).toBe(false);
  });

  it('an algorithm outside the JWS set never verifies and never signs', async () => {
    const { privateKey, publicKey, jwk } = await pairOf('EdDSA');
    const token = await signCompactJws({ kid: jwk.kid }, claims, 'EdDSA', privateKey, backend);
    const jws = parseCompactJws(token, backend);
    expect(await backend.verify('HS256', publicKey, jws.signingInput, jws.signature)).toBe(false);
    expect(await backend.verify('none', publicKey, jws.signingInput, jws.signature)).toBe(false);
    await expect(Promise.resolve().then(() => backend.sign('HS256', privateKey, jws.signingInput))).rejects.toThrow();
  });

  it('a key of another type than the algorithm never verifies and never signs', async () => {
    const ed = await pairOf('EdDSA');
    const ec = await pairOf('ES256');
    const token = await signCompactJws({ kid: ec.jwk.kid }, claims, 'ES256', ec.privateKey, backend);
    const jws = parseCompactJws(token, backend);
    expect(await backend.verify('ES256', ec.publicKey, jws.signingInput, jws.signature)).toBe(true);
    expect(await backend.verify('ES384', ec.publicKey, jws.signingInput, jws.signature)).toBe(false); // P-256 key, P-384 alg
    expect(await backend.verify('EdDSA', ec.publicKey, jws.signingInput, jws.signature)).toBe(false);
    expect(await backend.verify('ES256', ed.publicKey, jws.signingInput, jws.signature)).toBe(false);
    await expect(Promise.resolve().then(() => backend.sign('EdDSA', ec.privateKey, jws.signingInput))).rejects.toThrow();
    // node:crypto also checks the curve; Web Crypto signs ECDSA with SHA-384 on a P-256 key (the TTS mints EdDSA/ES256 only, T-16)
    if (backend !== webCryptoJws) await expect(Promise.resolve().then(() => backend.sign('ES384', ec.privateKey, jws.signingInput))).rejects.toThrow();
  });

  it('a key selection that yields a private key or something not a key never verifies', async () => {
    const { privateKey, jwk } = await pairOf('EdDSA');
    const token = await signCompactJws({ kid: jwk.kid }, claims, 'EdDSA', privateKey, backend);
    const jws = parseCompactJws(token, backend);
    expect(await verifyParsedJws(jws, 'EdDSA', createLocalJWKSet({ keys: [jwk] }), backend)).toBe(true);
    expect(await verifyParsedJws(jws, 'EdDSA', async () => privateKey, backend)).toBe(false);
    expect(await verifyParsedJws(jws, 'EdDSA', async () => new Uint8Array(32) as unknown as CryptoKey, backend)).toBe(false);
    expect(await verifyParsedJws(jws, 'EdDSA', async () => ({ type: 'public' }) as unknown as CryptoKey, backend)).toBe(false);
  });

  it('one character appended to any part of a valid token makes it malformed, never a second spelling of the same token', async () => {
    const { privateKey, jwk } = await pairOf('EdDSA');
    const profile = { getKey: createLocalJWKSet({ keys: [jwk] }), algorithms: ['EdDSA'], clockSkew: 30, audiences: ['support.example'], crypto: backend };
    const good = await signCompactJws({ kid: jwk.kid, typ: 'txntoken+jwt' }, claims, 'EdDSA', privateKey, backend);
    await expect(verifyTxnToken(good, profile)).resolves.toMatchObject({ claims: { sub: 'alice' } });
    const parts = good.split('.');
    for (const i of [0, 1, 2]) {
      // find the appended character that keeps the part's length ≡ 1 (mod 4): a base64 length no encoder produces
      const grown = parts.map((x, j) => (j === i ? `${x}${'A'.repeat((5 - (x.length % 4)) % 4 || 4)}` : x));
      expect(grown[i]!.length % 4, `part ${i}`).toBe(1);
      expect(() => parseCompactJws(grown.join('.'), backend), `part ${i}`).toThrow(JwsFormatError);
      await expect(verifyTxnToken(grown.join('.'), profile), `part ${i}`).rejects.toMatchObject({ code: 'malformed' });
    }
  });

  it('an ES256 signature of the wrong length is refused', async () => {
    const { privateKey, jwk } = await keyPair('ES256', 'e');
    const getKey = createLocalJWKSet({ keys: [jwk] });
    const token = await signCompactJws({ kid: 'e' }, claims, 'ES256', privateKey, backend);
    const [h, p, s] = token.split('.') as [string, string, string];
    const long = new Uint8Array([...base64url.decode(s), 0]);
    expect(await verifyParsedJws(parseCompactJws(`${h}.${p}.${base64url.encode(long)}`), 'ES256', getKey, backend)).toBe(false);
  });

  it('through the Txn-Token profile: tampering is bad_signature, an HS256 token never reaches a key', async () => {
    const { privateKey, jwk } = await keyPair('EdDSA', 'k');
    const profile = { getKey: createLocalJWKSet({ keys: [jwk] }), algorithms: ['EdDSA'], clockSkew: 30, audiences: ['support.example'], crypto: backend };
    const good = await signCompactJws({ kid: 'k', typ: 'txntoken+jwt' }, claims, 'EdDSA', privateKey, backend);
    await expect(verifyTxnToken(good, profile)).resolves.toMatchObject({ claims: { sub: 'alice' } });
    const [h, , s] = good.split('.') as [string, string, string];
    const tampered = `${h}.${base64url.encode(JSON.stringify({ ...claims, scope: 'orders:refund' }))}.${s}`;
    await expect(verifyTxnToken(tampered, profile)).rejects.toMatchObject({ code: 'bad_signature' });
    const hs = `${base64url.encode(JSON.stringify({ alg: 'HS256', typ: 'txntoken+jwt', kid: 'k' }))}.${base64url.encode(JSON.stringify(claims))}.c2ln`;
    await expect(verifyTxnToken(hs, profile)).rejects.toMatchObject({ code: 'bad_algorithm' });
  });

  it('a NaN or negative clockSkew fails closed (it would disable the exp check)', async () => {
    const { privateKey, jwk } = await keyPair('EdDSA', 'k');
    const past = Math.floor(Date.now() / 1000) - 3600;
    const expired = await signCompactJws({ kid: 'k', typ: 'txntoken+jwt' }, { ...claims, iat: past - 60, exp: past }, 'EdDSA', privateKey, backend);
    const profile = { getKey: createLocalJWKSet({ keys: [jwk] }), algorithms: ['EdDSA'], audiences: ['support.example'], crypto: backend };
    await expect(verifyTxnToken(expired, { ...profile, clockSkew: 30 })).rejects.toMatchObject({ code: 'expired' });
    await expect(verifyTxnToken(expired, { ...profile, clockSkew: Number.NaN })).rejects.toBeInstanceOf(TypeError);
    await expect(verifyTxnToken(expired, { ...profile, clockSkew: -5 })).rejects.toBeInstanceOf(TypeError);
  });
});

describe('key strength', () => {
  it.each<[string, JwsCrypto]>([
    ['webcrypto', webCryptoJws],
    ['node:crypto', nodeJwsCrypto],
    ['node:crypto on the thread pool', nodeJwsCryptoPooled],
  ])('an RSA key under 2048 bits never verifies (%s), though its signature is mathematically valid', async (_n, backend) => {
    const { generateKeyPairSync, sign } = await import('node:crypto');
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'weak', alg: 'RS256' };
    const h = base64url.encode(JSON.stringify({ alg: 'RS256', kid: 'weak', typ: 'txntoken+jwt' }));
    const p = base64url.encode(JSON.stringify(claims));
    const token = `${h}.${p}.${base64url.encode(sign('sha256', Buffer.from(`${h}.${p}`), privateKey))}`;
    const profile = { getKey: createLocalJWKSet({ keys: [jwk] }), algorithms: ['RS256'], clockSkew: 30, audiences: ['support.example'], crypto: backend };
    await expect(verifyTxnToken(token, profile)).rejects.toBeInstanceOf(JwtProfileError);
  });
});

describe('compact JWS parsing refuses before any key is used', () => {
  const h = (o: object) => base64url.encode(JSON.stringify(o));
  it.each([
    ['an empty token', ''],
    ['two parts', 'a.b'],
    ['four parts', 'a.b.c.d'],
    ['empty header', `.${h({})}.c2ln`],
    ['empty signature', `${h({ alg: 'EdDSA' })}.${h({})}.`],
    ['non-base64url', `${h({ alg: 'EdDSA' })}.${h({})}.a+b/`],
    ['non-base64url header', `${h({ alg: 'EdDSA' }).slice(0, 4)}+${h({ alg: 'EdDSA' }).slice(4)}.${h({})}.c2ln`],
    ['non-base64url payload', `${h({ alg: 'EdDSA' })}.${h({ sub: 'alice' }).slice(0, 4)}/${h({ sub: 'alice' }).slice(4)}.c2ln`],
    ['padded payload', `${h({ alg: 'EdDSA' })}.${base64url.encode('{"a":1}')}=.c2ln`],
    ['header not UTF-8', `${base64url.encode(new Uint8Array([0x7b, 0xff, 0x7d]))}.${h({})}.c2ln`],
    ['header null', `${base64url.encode('null')}.${h({})}.c2ln`],
    ['header a string', `${base64url.encode('"x"')}.${h({})}.c2ln`],
    ['header not JSON', `bm90IGpzb24.${h({})}.c2ln`],
    ['payload an array', `${h({ alg: 'EdDSA' })}.${base64url.encode('[1]')}.c2ln`],
    ['crit header', `${h({ alg: 'EdDSA', crit: ['exp'] })}.${h({})}.c2ln`],
    ['unencoded payload (b64: false)', `${h({ alg: 'EdDSA', b64: false })}.${h({})}.c2ln`],
  ])('%s', async (_what, token) => {
    for (const backend of [webCryptoJws, nodeJwsCrypto, nodeJwsCryptoPooled]) expect(() => parseCompactJws(token, backend), backend.name).toThrow(JwsFormatError);
    await expect(verifyTxnToken(token, { getKey: createLocalJWKSet({ keys: [] }), algorithms: ['EdDSA'], clockSkew: 30, audiences: ['x'] })).rejects.toBeInstanceOf(JwtProfileError);
  });
});

// Found unasserted by the jose mutation run of 2026-12-01 17:04 UTC (docs/mutation.md, jose).
describe('JWS edges: the contract of each function', () => {
  const thrown = (f: () => unknown): unknown => {
    try {
      f();
    } catch (e) {
      return e;
    }
    return 'no error';
  };

  it('anything that is not a non-empty string is a JwsFormatError (by name), on both backends, never a TypeError', () => {
    for (const backend of [webCryptoJws, nodeJwsCrypto])
      for (const token of [undefined, null, 42, {}, ['a.b.c'], '']) {
        const e = thrown(() => parseCompactJws(token as unknown as string, backend));
        expect(e, `${backend.name} ${JSON.stringify(token)}`).toBeInstanceOf(JwsFormatError);
        expect((e as Error).name).toBe('JwsFormatError');
      }
  });

  it('a header part one character longer than a base64url encoder writes is malformed, even where the codec would ignore the character', async () => {
    const { privateKey, jwk } = await pairOf('EdDSA');
    // a header whose JSON is a multiple of 3 bytes: base64url with no partial group, so an appended 'A' is a lone 6 bits
    let pad = '';
    while (JSON.stringify({ kid: jwk.kid, typ: 'txntoken+jwt', x: pad, alg: 'EdDSA' }).length % 3 !== 0) pad += 'p';
    for (const backend of [webCryptoJws, nodeJwsCrypto]) {
      const token = await signCompactJws({ kid: jwk.kid, typ: 'txntoken+jwt', x: pad }, claims, 'EdDSA', privateKey, backend);
      const [h, p, s] = token.split('.') as [string, string, string];
      expect(h.length % 4).toBe(0);
      const profile = { getKey: createLocalJWKSet({ keys: [jwk] }), algorithms: ['EdDSA'], clockSkew: 30, audiences: ['support.example'], crypto: backend };
      await expect(verifyTxnToken(token, profile)).resolves.toMatchObject({ claims: { sub: 'alice' } });
      expect(() => parseCompactJws(`${h}A.${p}.${s}`, backend), backend.name).toThrow(JwsFormatError);
      await expect(verifyTxnToken(`${h}A.${p}.${s}`, profile), backend.name).rejects.toMatchObject({ code: 'malformed' });
    }
  });

  it('a parsed JWS keeps its three parts, and key selection is handed them as jose hands them (protected, payload, signature)', async () => {
    const { privateKey, publicKey, jwk } = await pairOf('EdDSA');
    const token = await signCompactJws({ kid: jwk.kid }, claims, 'EdDSA', privateKey, nodeJwsCrypto);
    const [h, p, s] = token.split('.') as [string, string, string];
    const jws = parseCompactJws(token, nodeJwsCrypto);
    expect(jws.parts).toEqual([h, p, s]);
    const seen: unknown[] = [];
    const getKey = (header: unknown, input: unknown) => (seen.push([header, input]), publicKey);
    expect(await verifyParsedJws(jws, 'EdDSA', getKey, nodeJwsCrypto)).toBe(true);
    expect(seen).toEqual([[{ kid: jwk.kid, alg: 'EdDSA' }, { protected: h, payload: p, signature: s }]]);
  });

  it('answers synchronously when the key and the backend do (node:crypto, a key at hand), a promise when the key is awaited', async () => {
    const { privateKey, publicKey, jwk } = await pairOf('EdDSA');
    const jws = parseCompactJws(await signCompactJws({ kid: jwk.kid }, claims, 'EdDSA', privateKey, nodeJwsCrypto), nodeJwsCrypto);
    expect(verifyParsedJws(jws, 'EdDSA', () => publicKey, nodeJwsCrypto)).toBe(true);
    const later = verifyParsedJws(jws, 'EdDSA', async () => publicKey, nodeJwsCrypto);
    expect(later).toBeInstanceOf(Promise);
    expect(await later).toBe(true);
  });

  it.each<[string, JwsCrypto]>([
    ['webcrypto', webCryptoJws],
    ['node:crypto', nodeJwsCrypto],
  ])('%s: a key selection that yields null, undefined, a string or a number never verifies and never throws', async (_n, backend) => {
    const { privateKey, jwk } = await pairOf('EdDSA');
    const jws = parseCompactJws(await signCompactJws({ kid: jwk.kid }, claims, 'EdDSA', privateKey, backend), backend);
    for (const notKey of [null, undefined, 'k-EdDSA', 7]) {
      const sync = thrown(() => verifyParsedJws(jws, 'EdDSA', () => notKey as unknown as CryptoKey, backend));
      expect(sync, String(notKey)).toBe('no error');
      expect(verifyParsedJws(jws, 'EdDSA', () => notKey as unknown as CryptoKey, backend), String(notKey)).toBe(false);
      expect(await verifyParsedJws(jws, 'EdDSA', async () => notKey as unknown as CryptoKey, backend), String(notKey)).toBe(false);
    }
    const profile = { getKey: () => null as unknown as CryptoKey, algorithms: ['EdDSA'], clockSkew: 30, audiences: ['support.example'], crypto: backend };
    const token = await signCompactJws({ kid: jwk.kid, typ: 'txntoken+jwt' }, claims, 'EdDSA', privateKey, backend);
    await expect(verifyTxnToken(token, profile)).rejects.toMatchObject({ code: 'bad_signature' });
  });

  it.each<[string, JwsCrypto]>([
    ['webcrypto', webCryptoJws],
    ['node:crypto', nodeJwsCrypto],
  ])('%s: a public key of another algorithm than alg answers false, never throws (bad_signature through the profile)', async (_n, backend) => {
    const ed = await pairOf('EdDSA');
    const ec = await pairOf('ES256');
    const jws = parseCompactJws(await signCompactJws({ kid: ed.jwk.kid }, claims, 'EdDSA', ed.privateKey, backend), backend);
    expect(await backend.verify('EdDSA', ec.publicKey, jws.signingInput, jws.signature)).toBe(false);
    expect(await backend.verify('ES256', ed.publicKey, jws.signingInput, jws.signature)).toBe(false);
    const token = await signCompactJws({ kid: ed.jwk.kid, typ: 'txntoken+jwt' }, claims, 'EdDSA', ed.privateKey, backend);
    const profile = { getKey: () => ec.publicKey, algorithms: ['EdDSA'], clockSkew: 30, audiences: ['support.example'], crypto: backend };
    await expect(verifyTxnToken(token, profile)).rejects.toMatchObject({ code: 'bad_signature' });
  });

  it.each<[string, JwsCrypto]>([
    ['webcrypto', webCryptoJws],
    ['node:crypto', nodeJwsCrypto],
  ])('%s: signing with an algorithm outside the set is refused by name', async (_n, backend) => {
    const { privateKey } = await pairOf('EdDSA');
    await expect(Promise.resolve().then(() => backend.sign('HS256', privateKey, new Uint8Array(1)))).rejects.toThrow('unsupported signing algorithm HS256');
  });

  it('a backend codec that refuses the signature part is a JwsFormatError, not its own error', async () => {
    const { privateKey, jwk } = await pairOf('EdDSA');
    const token = await signCompactJws({ kid: jwk.kid }, claims, 'EdDSA', privateKey, nodeJwsCrypto);
    const sigPart = token.split('.')[2]!;
    const b64 = nodeJwsCrypto.base64url!;
    const strict: JwsCrypto = {
      ...nodeJwsCrypto,
      name: 'strict',
      base64url: {
        encode: (i) => b64.encode(i),
        decode: (s) => {
          if (s === sigPart) throw new RangeError('non-canonical base64url');
          return b64.decode(s);
        },
      },
    };
    expect(parseCompactJws(token, nodeJwsCrypto).signature.length).toBe(64);
    expect(() => parseCompactJws(token, strict)).toThrow(JwsFormatError);
  });
});
