import { KeyObject, constants, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import type { CryptoKey } from 'jose';
import { setDefaultJwsCrypto, type JwsCrypto } from './jws.js';

/**
 * JWS signatures with synchronous node:crypto. The keys still come from jose (Web Crypto CryptoKeys, selected by
 * kid/alg from configured key sets); each is turned into a KeyObject once. The algorithm comes from the token's
 * allow-listed `alg`, and the key type must match it: a key of another type never verifies.
 */
const keyObjects = new WeakMap<CryptoKey, KeyObject>();

function keyObject(key: CryptoKey): KeyObject {
  let k = keyObjects.get(key);
  if (k === undefined) {
    k = KeyObject.from(key);
    keyObjects.set(key, k);
  }
  return k;
}

interface NodeAlg {
  hash: string | null;
  keyType: string;
  curve?: string;
  opts?: { dsaEncoding?: 'ieee-p1363'; padding?: number; saltLength?: number };
  sigLength?: number;
}

const ALGS: Record<string, NodeAlg> = {
  EdDSA: { hash: null, keyType: 'ed25519' },
  Ed25519: { hash: null, keyType: 'ed25519' },
  ES256: { hash: 'sha256', keyType: 'ec', curve: 'prime256v1', opts: { dsaEncoding: 'ieee-p1363' }, sigLength: 64 },
  ES384: { hash: 'sha384', keyType: 'ec', curve: 'secp384r1', opts: { dsaEncoding: 'ieee-p1363' }, sigLength: 96 },
  ES512: { hash: 'sha512', keyType: 'ec', curve: 'secp521r1', opts: { dsaEncoding: 'ieee-p1363' }, sigLength: 132 },
  RS256: { hash: 'sha256', keyType: 'rsa' },
  RS384: { hash: 'sha384', keyType: 'rsa' },
  RS512: { hash: 'sha512', keyType: 'rsa' },
  PS256: { hash: 'sha256', keyType: 'rsa', opts: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } },
  PS384: { hash: 'sha384', keyType: 'rsa', opts: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 } },
  PS512: { hash: 'sha512', keyType: 'rsa', opts: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 } },
};

function matches(k: KeyObject, a: NodeAlg): boolean {
  const t = k.asymmetricKeyType;
  if (a.keyType === 'rsa') return t === 'rsa' || t === 'rsa-pss';
  if (t !== a.keyType) return false;
  return a.curve === undefined || k.asymmetricKeyDetails?.namedCurve === a.curve;
}

export const nodeJwsCrypto: JwsCrypto = {
  name: 'node:crypto',
  base64url: {
    encode: (input) => (typeof input === 'string' ? Buffer.from(input, 'utf8') : Buffer.from(input.buffer, input.byteOffset, input.byteLength)).toString('base64url'),
    decode: (input) => Buffer.from(input, 'base64url'),
  },
  ascii: (s) => Buffer.from(s, 'latin1'),
  verify(alg, key, data, sig) {
    const a = ALGS[alg];
    if (a === undefined) return false;
    if (a.sigLength !== undefined && sig.length !== a.sigLength) return false;
    try {
      const k = keyObject(key);
      if (!matches(k, a)) return false;
      return nodeVerify(a.hash, data, a.opts === undefined ? k : { key: k, ...a.opts }, sig);
    } catch {
      return false;
    }
  },
  sign(alg, key, data) {
    const a = ALGS[alg];
    if (a === undefined) throw new Error(`unsupported signing algorithm ${alg}`);
    const k = keyObject(key);
    if (!matches(k, a)) throw new Error(`signing key does not match ${alg}`);
    return new Uint8Array(nodeSign(a.hash, data, a.opts === undefined ? k : { key: k, ...a.opts }));
  },
};

/** Makes node:crypto the default JWS backend of this process (Node entry points call this once). */
export function installNodeJwsCrypto(): void {
  setDefaultJwsCrypto(nodeJwsCrypto);
}
