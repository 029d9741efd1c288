import { keySource } from '../jose/key-source.js';
import { isPromiseLike, type MaybePromise } from '../jose/jws.js';
import { checkTxnToken, JwtProfileError, type TxnTokenProfile } from '../jose/profiles.js';
import type { TxnTokenClaims } from '../txn/index.js';
import { TxnTokenError, type TxnTokenErrorCode } from './errors.js';
import type { VerifierOptions, VerifierSettings } from './options.js';

/**
 * Key resolution and the signature-and-claims check of a fresh token (V-02..V-07): the TTS key set, inline or remote
 * (bounded, resilient, refreshed in the background: jose/key-source.ts), and the one Txn-Token profile.
 * A key set that cannot be had is an outage (503 `unavailable`), not a bad token: only "no key for this kid/alg" is
 * the token's fault (issue 10 finding 7).
 */
export function txnTokenChecker(o: VerifierOptions, s: VerifierSettings): (token: string) => MaybePromise<TxnTokenClaims> {
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
  const profile: TxnTokenProfile = { getKey, algorithms: s.algorithms, clockSkew: s.clockSkew, audiences: s.audiences, issuer: s.issuer, freeze: true };
  // synchronous when the key was selected before and the backend is node:crypto (the fresh path of a Node service)
  return (token) => {
    let checked;
    try {
      checked = checkTxnToken(token, s.fixedClock ? { ...profile, currentDate: new Date(s.now()) } : profile);
    } catch (e) {
      throw refusal(e);
    }
    if (isPromiseLike(checked))
      return checked.then(
        (c) => c.claims,
        (e: unknown) => {
          throw refusal(e);
        },
      );
    return checked.claims;
  };
}

/** A profile refusal as the verifier's error: the code services switch on, the profile's reason kept. */
function refusal(e: unknown): TxnTokenError {
  if (e instanceof JwtProfileError) {
    const code: TxnTokenErrorCode = e.code === 'key_unavailable' ? 'unavailable' : e.code === 'invalid_claim' ? 'malformed' : e.code;
    return new TxnTokenError(code, e.message, { reason: e.reason, cause: e });
  }
  return new TxnTokenError('malformed', 'malformed Txn-Token', { reason: 'malformed', cause: e });
}
