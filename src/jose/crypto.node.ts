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

type KeyUse = { a: NodeAlg; k: KeyObject | { key: KeyObject } };

/** The key and options for `alg`, or undefined when `key` may not be used with it (a mismatch never verifies). */
function keyFor(a: NodeAlg, key: CryptoKey): KeyUse | undefined {
  const k = keyObject(key);
  if (!matches(k, a)) return undefined;
  return { a, k: a.opts === undefined ? k : { key: k, ...a.opts } };
}

/**
 * What a verification needs, or undefined when it can never hold: an unknown alg, a signature of the wrong length, a
 * key of another type (or not a key).
 */
function verifyKey(alg: string, key: CryptoKey, sig: Uint8Array): KeyUse | undefined {
  const a = ALGS[alg];
  if (a === undefined || (a.sigLength !== undefined && sig.length !== a.sigLength)) return undefined;
  try {
    return keyFor(a, key);
  } catch {
    return undefined;
  }
}

/** What a signature needs; throws when `alg` is not one or `key` is not its kind of key. */
function signKey(alg: string, key: CryptoKey): KeyUse {
  const a = ALGS[alg];
  if (a === undefined) throw new Error(`unsupported signing algorithm ${alg}`);
  const use = keyFor(a, key);
  if (use === undefined) throw new Error(`signing key does not match ${alg}`);
  return use;
}

const base64urlCodec: JwsCrypto['base64url'] = {
  encode: (input) => (typeof input === 'string' ? Buffer.from(input, 'utf8') : Buffer.from(input.buffer, input.byteOffset, input.byteLength)).toString('base64url'),
  decode: (input) => Buffer.from(input, 'base64url'),
};
const ascii = (s: string): Uint8Array => Buffer.from(s, 'latin1');

export const nodeJwsCrypto: JwsCrypto = {
  name: 'node:crypto',
  base64url: base64urlCodec,
  ascii,
  verify(alg, key, data, sig) {
    const use = verifyKey(alg, key, sig);
    if (use === undefined) return false;
    try {
      return nodeVerify(use.a.hash, data, use.k, sig);
    } catch {
      return false;
    }
  },
  sign(alg, key, data) {
    const use = signKey(alg, key);
    return new Uint8Array(nodeSign(use.a.hash, data, use.k));
  },
};

/**
 * The same signatures computed on libuv's thread pool (node:crypto's callback form): the event loop goes on with
 * other requests meanwhile, so a busy server uses more than one core. Each answer costs a hand-off to a pool thread
 * and back, so it is for callers with other work waiting (src/exchange/offload.ts), not for one request at a time.
 * Same checks and answers as `nodeJwsCrypto` (tested side by side).
 */
export const nodeJwsCryptoPooled: JwsCrypto = {
  name: 'node:crypto (thread pool)',
  base64url: base64urlCodec,
  ascii,
  verify(alg, key, data, sig) {
    const use = verifyKey(alg, key, sig);
    if (use === undefined) return false;
    return new Promise<boolean>((resolve) => {
      try {
        nodeVerify(use.a.hash, data, use.k, sig, (err, ok) => resolve(err === null && ok));
      } catch {
        resolve(false);
      }
    });
  },
  sign(alg, key, data) {
    const use = signKey(alg, key);
    return new Promise<Uint8Array>((resolve, reject) => {
      nodeSign(use.a.hash, data, use.k, (err, sig) => (err === null ? resolve(new Uint8Array(sig)) : reject(err)));
    });
  },
};

/** Makes node:crypto the default JWS backend of this process (Node entry points call this once). */
export function installNodeJwsCrypto(): void {
  setDefaultJwsCrypto(nodeJwsCrypto, nodeJwsCryptoPooled);
}
