import { base64url, type CryptoKey, type FlattenedJWSInput, type JWSHeaderParameters, type JWTVerifyGetKey } from 'jose';

/**
 * Compact JWS (RFC 7515) for the algorithms Baton accepts, with the signature primitive pluggable: Web Crypto by
 * default (Workers, browsers, Node), synchronous node:crypto on Node (`crypto.node.ts`), which skips Web Crypto's
 * per-call job dispatch on the hot paths (exchange, verification). Key selection and JWKS caching stay with jose.
 * Claims are checked by the profiles (profiles.ts), once, whatever the backend.
 */
export interface JwsCrypto {
  readonly name: string;
  /** true when `sig` is a valid signature by `key` over `data` for `alg`; false on any mismatch (never throws for bad input) */
  verify(alg: string, key: CryptoKey, data: Uint8Array, sig: Uint8Array): boolean | Promise<boolean>;
  sign(alg: string, key: CryptoKey, data: Uint8Array): Uint8Array | Promise<Uint8Array>;
  /** a faster base64url codec where the runtime has one (Node's Buffer); input is pre-validated against the alphabet */
  readonly base64url?: Base64Url;
  /** the bytes of a string of ASCII characters (a signing input), where the runtime has a faster way than TextEncoder */
  readonly ascii?: (s: string) => Uint8Array;
}

export interface Base64Url {
  encode(input: Uint8Array | string): string;
  decode(input: string): Uint8Array;
}

/** Web Crypto algorithm parameters (declared here, so that the types need no DOM lib). */
type SubtleParams = { name: string; hash?: string; saltLength?: number };

function subtleParams(alg: string): SubtleParams | undefined {
  switch (alg) {
    case 'EdDSA':
    case 'Ed25519':
      return { name: 'Ed25519' };
    case 'ES256':
      return { name: 'ECDSA', hash: 'SHA-256' };
    case 'ES384':
      return { name: 'ECDSA', hash: 'SHA-384' };
    case 'ES512':
      return { name: 'ECDSA', hash: 'SHA-512' };
    case 'RS256':
    case 'RS384':
    case 'RS512':
      return { name: 'RSASSA-PKCS1-v1_5' };
    case 'PS256':
      return { name: 'RSA-PSS', saltLength: 32 };
    case 'PS384':
      return { name: 'RSA-PSS', saltLength: 48 };
    case 'PS512':
      return { name: 'RSA-PSS', saltLength: 64 };
    default:
      return undefined;
  }
}

export const webCryptoJws: JwsCrypto = {
  name: 'webcrypto',
  async verify(alg, key, data, sig) {
    const params = subtleParams(alg);
    if (params === undefined) return false;
    try {
      return await crypto.subtle.verify(params, key, sig as Uint8Array<ArrayBuffer>, data as Uint8Array<ArrayBuffer>);
    } catch {
      return false;
    }
  },
  async sign(alg, key, data) {
    const params = subtleParams(alg);
    if (params === undefined) throw new Error(`unsupported signing algorithm ${alg}`);
    return new Uint8Array(await crypto.subtle.sign(params, key, data as Uint8Array<ArrayBuffer>));
  },
};

let defaultCrypto: JwsCrypto = webCryptoJws;
let pooledCrypto: JwsCrypto = webCryptoJws;

/**
 * The backend used when none is given. `node.ts` installs node:crypto, and beside it `pooled`: the same signatures
 * computed on libuv's thread pool, for a caller with other requests waiting (`pooledJwsCrypto`). Workers keep Web
 * Crypto for both.
 */
export function setDefaultJwsCrypto(c: JwsCrypto, pooled: JwsCrypto = c): void {
  defaultCrypto = c;
  pooledCrypto = pooled;
}
export function defaultJwsCrypto(): JwsCrypto {
  return defaultCrypto;
}
/** The default backend's signatures off the event loop (node:crypto's thread pool), where the runtime has that. */
export function pooledJwsCrypto(): JwsCrypto {
  return pooledCrypto;
}

export class JwsFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JwsFormatError';
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export interface ParsedJws {
  readonly header: JWSHeaderParameters & Record<string, unknown>;
  readonly payload: Record<string, unknown>;
  /** the bytes that were signed: ASCII of `protected.payload` */
  readonly signingInput: Uint8Array;
  readonly signature: Uint8Array;
  readonly parts: readonly [string, string, string];
}

function decodeJsonObject(part: string, what: string, b64: Base64Url): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(dec.decode(b64.decode(part)));
  } catch {
    throw new JwsFormatError(`${what} is not base64url JSON`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new JwsFormatError(`${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

/**
 * Protected headers seen before, parsed: every token of one signer and key carries the same header text, so it is
 * decoded once. Only flat headers (members that are not objects or arrays) of at most 512 characters are kept, frozen
 * (they are only ever read); at most 256, the whole memo dropped when full (a stream of distinct headers only costs
 * their parsing, as before). Headers that fail to parse are never kept.
 */
const headers = new Map<string, ParsedJws['header']>();

function headerOf(p0: string, b64: Base64Url): ParsedJws['header'] {
  const known = headers.get(p0);
  if (known !== undefined) return known;
  const header = decodeJsonObject(p0, 'header', b64) as ParsedJws['header'];
  if (p0.length <= 512 && Object.values(header).every((v) => v === null || typeof v !== 'object')) {
    if (headers.size >= 256) headers.clear();
    headers.set(p0, Object.freeze(header));
  }
  return header;
}

/** A compact JWS: three base64url parts (the payload may be empty), checked in one pass. */
const COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$/;

/** Parses a compact JWS without trusting it: three base64url parts, JSON-object header and payload. */
export function parseCompactJws(token: string, backend: JwsCrypto = defaultCrypto): ParsedJws {
  const b64 = backend.base64url ?? base64url;
  if (typeof token !== 'string' || token.length === 0) throw new JwsFormatError('empty token');
  const d1 = token.indexOf('.');
  const d2 = d1 < 0 ? -1 : token.indexOf('.', d1 + 1);
  if (d2 < 0 || token.indexOf('.', d2 + 1) >= 0) throw new JwsFormatError('not a compact JWS (three parts)');
  if (!COMPACT.test(token)) throw new JwsFormatError('not base64url');
  const p0 = token.slice(0, d1);
  const p1 = token.slice(d1 + 1, d2);
  const p2 = token.slice(d2 + 1);
  if (p0.length % 4 === 1 || p1.length % 4 === 1 || p2.length % 4 === 1) throw new JwsFormatError('not base64url (length)');
  const header = headerOf(p0, b64);
  // No extension is understood: a critical one must fail (RFC 7515 §4.1.11), and so does unencoded payload.
  if (header.crit !== undefined) throw new JwsFormatError('crit header parameters are not supported');
  if (header.b64 !== undefined) throw new JwsFormatError('b64 header parameter is not supported');
  const payload = decodeJsonObject(p1, 'payload', b64);
  let signature: Uint8Array;
  try {
    signature = b64.decode(p2);
  } catch {
    throw new JwsFormatError('signature is not base64url');
  }
  const signingInput = token.slice(0, d2); // `protected.payload`, ASCII
  return { header, payload, signingInput: backend.ascii?.(signingInput) ?? enc.encode(signingInput), signature, parts: [p0, p1, p2] };
}

/** A value, or a promise of it: what the checks answer when they may complete without waiting. */
export type MaybePromise<T> = T | Promise<T>;

export function isPromiseLike<T>(v: MaybePromise<T> | PromiseLike<T>): v is PromiseLike<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

/**
 * Checks the signature of a parsed JWS with the key `getKey` selects (jose's local or remote JWKS: by kid and alg,
 * never from `jku`/`x5u`/`jwk` headers). Throws (or rejects with) what `getKey` throws; answers whether the signature
 * holds, synchronously when the key and the backend answer at once (a remembered key, node:crypto).
 */
export function verifyParsedJws(jws: ParsedJws, alg: string, getKey: JWTVerifyGetKey, backend: JwsCrypto = defaultCrypto): MaybePromise<boolean> {
  const input: FlattenedJWSInput = { protected: jws.parts[0], payload: jws.parts[1], signature: jws.parts[2] };
  const key = getKey(jws.header as Parameters<JWTVerifyGetKey>[0], input);
  if (isPromiseLike(key)) return Promise.resolve(key).then((k) => verifyWithKey(jws, alg, k, backend));
  return verifyWithKey(jws, alg, key, backend);
}

function verifyWithKey(jws: ParsedJws, alg: string, key: unknown, backend: JwsCrypto): MaybePromise<boolean> {
  if (!isCryptoKey(key) || !strongEnough(key)) return false;
  return backend.verify(alg, key, jws.signingInput, jws.signature);
}

function isCryptoKey(k: unknown): k is CryptoKey {
  return typeof k === 'object' && k !== null && 'algorithm' in k && 'type' in k && (k as CryptoKey).type === 'public';
}

/** RSA keys shorter than 2048 bits never verify (RFC 7518 §3.3; what jose enforced before signatures moved here). */
function strongEnough(key: CryptoKey): boolean {
  const modulusLength = (key.algorithm as { modulusLength?: number }).modulusLength;
  return modulusLength === undefined || modulusLength >= 2048;
}

/** Signs a compact JWS. */
export async function signCompactJws(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  alg: string,
  key: CryptoKey,
  backend: JwsCrypto = defaultCrypto,
): Promise<string> {
  return signEncodedHeader(protectedHeader(header, alg, backend), payload, alg, key, backend);
}

/** The protected header of a compact JWS as it is signed: `header` with `alg`, JSON, base64url. */
export function protectedHeader(header: Record<string, unknown>, alg: string, backend: JwsCrypto = defaultCrypto): string {
  // `__proto__` first: V8's slow path for a spread followed by new members (same object, same prototype)
  return (backend.base64url ?? base64url).encode(JSON.stringify({ __proto__: Object.prototype, ...header, alg }));
}

/**
 * Signs a compact JWS whose protected header was encoded before (`protectedHeader`, with the same `alg`): a signer whose
 * header never changes (one key's) encodes it once.
 */
export async function signEncodedHeader(p0: string, payload: Record<string, unknown>, alg: string, key: CryptoKey, backend: JwsCrypto = defaultCrypto): Promise<string> {
  const b64 = backend.base64url ?? base64url;
  const p1 = b64.encode(JSON.stringify(payload));
  const input = `${p0}.${p1}`;
  const sig = await backend.sign(alg, key, backend.ascii?.(input) ?? enc.encode(input));
  return `${input}.${b64.encode(sig)}`;
}
