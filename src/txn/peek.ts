/**
 * Reading a JWT WITHOUT verifying it, through jose's decoders: only ever to choose what verifies it (which issuer's or
 * client's keys) or to start a store call early whose answer is used only once the verified claim is the same string.
 * Never a decision on its own.
 */
import { decodeJwt, decodeProtectedHeader } from 'jose';
import type { Claims } from './claims.js';

/** The payload of a compact JWS, unverified; undefined when `token` is not one with a JSON object payload. */
export function peekClaims(token: string): Claims | undefined {
  try {
    return decodeJwt(token) as Claims;
  } catch {
    return undefined;
  }
}

/** The protected header of a compact JWS, unverified; undefined when it has none that parses. */
export function peekHeader(token: string): Claims | undefined {
  try {
    return decodeProtectedHeader(token) as Claims;
  } catch {
    return undefined;
  }
}

/** A non-empty string claim of an unverified token, or undefined. */
export function peekString(token: string, claim: string): string | undefined {
  const v = peekClaims(token)?.[claim];
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}
