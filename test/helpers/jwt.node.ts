/** JWTs jose will not build, signed with node:crypto: HMAC forgeries and payloads given as JSON text. */
import { createHmac, KeyObject, sign as nodeSign } from 'node:crypto';
import { base64url } from 'jose';
import type { KeyPair } from './jwt.js';

const b64u = (s: string | Uint8Array): string => base64url.encode(s);

/** An HS256 JWS whose HMAC key is `secret` (the classic "public key as HMAC secret" confusion). */
export function hmacJwt(header: Record<string, unknown>, payload: Record<string, unknown>, secret: string | Uint8Array): string {
  const input = `${b64u(JSON.stringify({ ...header, alg: 'HS256' }))}.${b64u(JSON.stringify(payload))}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/**
 * A compact JWS over a payload given as JSON TEXT, signed with `key`: for payloads jose cannot build (it copies claims
 * recursively, so a claim nested thousands of levels deep overflows its stack before anything is sent).
 */
export function signRawJws(key: KeyPair, header: Record<string, unknown>, payloadJson: string): string {
  const input = `${b64u(JSON.stringify({ ...header, alg: key.alg }))}.${b64u(payloadJson)}`;
  const k = KeyObject.from(key.privateKey);
  const sig =
    key.alg === 'EdDSA'
      ? nodeSign(null, Buffer.from(input), k)
      : nodeSign('sha256', Buffer.from(input), key.alg === 'ES256' ? { key: k, dsaEncoding: 'ieee-p1363' } : k);
  return `${input}.${b64u(sig)}`;
}
