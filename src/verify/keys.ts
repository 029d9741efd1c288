import { keySource } from '../jose/key-source.js';
import { JwtProfileError, verifyTxnToken } from '../jose/profiles.js';
import type { TxnTokenClaims } from '../txn/index.js';
import { TxnTokenError, type TxnTokenErrorCode } from './errors.js';
import type { VerifierOptions, VerifierSettings } from './options.js';

/**
 * Key resolution and the signature-and-claims check of a fresh token (V-02..V-07): the TTS key set, inline or remote
 * (bounded, resilient, refreshed in the background: jose/key-source.ts), and the one Txn-Token profile.
 * A key set that cannot be had is an outage (503 `unavailable`), not a bad token: only "no key for this kid/alg" is
 * the token's fault (issue 10 finding 7).
 */
export function txnTokenChecker(o: VerifierOptions, s: VerifierSettings): (token: string) => Promise<TxnTokenClaims> {
  const getKey = keySource(
    { jwks: o.jwks, jwksUri: o.jwksUri },
    {
      cooldownMs: o.jwksCooldownMs,
      cacheMaxAgeMs: o.jwksCacheMaxAgeMs,
      maxStaleMs: o.jwksMaxStaleMs,
      maxBytes: o.jwksMaxBytes,
      maxKeys: o.jwksMaxKeys,
      fetch: o.jwksFetch,
      now: s.now,
    },
  );
  return async (token) => {
    try {
      const { claims } = await verifyTxnToken(token, {
        getKey,
        algorithms: s.algorithms,
        clockSkew: s.clockSkew,
        audiences: s.audiences,
        issuer: s.issuer,
        ...(s.fixedClock ? { currentDate: new Date(s.now()) } : {}),
      });
      return claims;
    } catch (e) {
      throw refusal(e);
    }
  };
}

/** A profile refusal as the verifier's error: the code services switch on, the profile's reason kept. */
function refusal(e: unknown): TxnTokenError {
  if (e instanceof TxnTokenError) return e;
  if (e instanceof JwtProfileError) {
    const code: TxnTokenErrorCode = e.code === 'key_unavailable' ? 'unavailable' : e.code === 'invalid_claim' ? 'malformed' : e.code;
    return new TxnTokenError(code, e.message, { reason: e.reason, cause: e });
  }
  return new TxnTokenError('malformed', 'malformed Txn-Token', { reason: 'malformed', cause: e });
}
