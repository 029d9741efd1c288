/**
 * `auxData.jwt` of a Cerbos request: the token is verified against the configured key set (inline JWKS or a JWKS URL)
 * and its claims become `request.auxData.jwt` in conditions. With `disableVerification` (development, and the
 * differential tests, as Cerbos's own setting) the claims are read unverified but `exp`/`nbf` are still checked, as
 * Cerbos does. Any failure is Cerbos's `invalid auxData` (400); the token is never echoed.
 */
import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, jwtVerify, type JWK } from 'jose';
import type { AuxData } from '../policy/index.js';
import { CerbosApiError } from './cerbos-errors.js';
import type { AuxInput, AuxJwtInput } from './cerbos-request.js';

export interface AuxJwtSettings {
  disableVerification: boolean;
  jwks?: { keys: readonly object[] } | undefined;
  jwksUri?: string | undefined;
  algorithms?: readonly string[] | undefined;
}

export type AuxReader = (aux: AuxInput | undefined, nowMs: number) => Promise<AuxData | undefined>;

const SKEW_SECONDS = 0;

function invalid(): CerbosApiError {
  return new CerbosApiError(3, 'invalid auxData', 'aux.invalid_jwt');
}

/** The reader of `auxData.jwt` for these settings (no key set and verification on: every token is refused). */
export function auxReader(s: AuxJwtSettings): AuxReader {
  const keys =
    s.jwks !== undefined
      ? createLocalJWKSet({ keys: s.jwks.keys as JWK[] })
      : s.jwksUri !== undefined
        ? createRemoteJWKSet(new URL(s.jwksUri))
        : undefined;
  const algorithms = s.algorithms === undefined ? undefined : [...s.algorithms];
  const claimsOf = async (jwt: AuxJwtInput, nowMs: number): Promise<Record<string, unknown>> => {
    const now = Math.floor(nowMs / 1000);
    if (s.disableVerification) {
      let claims: Record<string, unknown>;
      try {
        claims = decodeJwt(jwt.token);
      } catch {
        throw invalid();
      }
      if (typeof claims.exp === 'number' && claims.exp < now - SKEW_SECONDS) throw invalid();
      if (typeof claims.nbf === 'number' && claims.nbf > now + SKEW_SECONDS) throw invalid();
      return claims;
    }
    if (keys === undefined) throw invalid();
    try {
      const { payload } = await jwtVerify(jwt.token, keys, { currentDate: new Date(nowMs), ...(algorithms !== undefined ? { algorithms } : {}) });
      return payload as Record<string, unknown>;
    } catch {
      throw invalid();
    }
  };
  return async (aux, nowMs) => {
    if (aux === undefined) return undefined;
    const out: AuxData = {};
    if (aux.jwt !== undefined) out.jwt = await claimsOf(aux.jwt, nowMs);
    if (aux.jwts !== undefined) {
      out.jwts = {};
      for (const [name, t] of Object.entries(aux.jwts)) out.jwts[name] = { claims: await claimsOf(t, nowMs) };
    }
    return out;
  };
}
