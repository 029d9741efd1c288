import { JwtProfileError } from '../jose/index.js';
import { StoreUnavailableError } from '../store/types.js';
import type { TxnTokenClaims } from '../txn/index.js';
import type { Workload } from './client-auth.js';
import { verifyOwnTxnToken, type EntryDraft, type TtsContext } from './context.js';
import { OAuthError, invalidRequest, unavailable } from './errors.js';
import { clientVerdict, started, subjectVerdict, type StartedLimits } from './limits.js';
import type { ExchangeRequest } from './request.js';

/**
 * The subject step of a replacement: a Txn-Token of this trust domain as the subject token, verified
 * exactly as a receiving service would verify it, not revoked, and kept in its trust domain. Everything after this
 * (chain, scope, content) is the same pipeline as a first exchange; what a replacement may change is in mint.ts (replacementContent).
 */

const REFUSED: Partial<Record<JwtProfileError['code'], string>> = {
  expired: 'the Txn-Token is expired',
  wrong_audience: 'the Txn-Token is for another trust domain',
  wrong_issuer: 'the Txn-Token was issued by another TTS',
  wrong_type: 'the subject token is not a Txn-Token',
  bad_signature: 'the Txn-Token signature is invalid',
  unknown_kid: 'the Txn-Token was not signed by this TTS',
};

type ReplaceContext = Pick<TtsContext, 'ownKeys' | 'config' | 'trustDomains' | 'now' | 'store'>;

/**
 * Verifies the input Txn-Token while the client's limit is checked, and reads its revocation (V-08) at the same time:
 * one read, of `claimedTxn`, the `txn` peeked from the very bytes being verified. For a token that verifies it IS the
 * verified `txn`: the signature covers those bytes, the profile requires a non-empty string `txn`, and a payload the
 * strict JWS parser accepts (one base64url spelling, valid UTF-8) is the same JSON.parse input for jose's `decodeJwt`
 * (and only this TTS's own keys sign it). So the read answers for the input token. For a token that does not verify
 * (`claimedTxn` undefined among them: the empty key is read then), the verification error is thrown first and the
 * read's answer, or its failure, is never looked at. The per-(workload, subject) budget counts replacements too: the
 * subject is the input token's `sub`.
 */
export async function replacementInput(ctx: ReplaceContext, req: ExchangeRequest, workload: Workload, limits: StartedLimits, claimedTxn: string | undefined, entry: EntryDraft): Promise<TxnTokenClaims> {
  const inputP = started(verifyOwnTxnToken(ctx, req.subjectToken));
  const revoked = started(isRevoked(ctx, claimedTxn ?? ''));
  await clientVerdict(limits);
  const input = await refusedAsInvalid(inputP);
  entry.txn = input.txn;
  entry.sub = input.sub;
  const subjectLimit = subjectVerdict(ctx, limits, workload, input.sub);
  const inputAud = Array.isArray(input.aud) ? input.aud : [input.aud];
  if (!inputAud.includes(req.audience))
    throw new OAuthError('invalid_target', 'a replacement keeps the trust domain of the input token (R-02)', { reason: 'replace.audience_changed' });
  await subjectLimit;
  if (await revoked) throw invalidRequest('replace.revoked', 'the transaction is revoked');
  return input;
}

/** a Txn-Token a receiving service would refuse is `invalid_request`, naming the check. */
async function refusedAsInvalid(p: Promise<TxnTokenClaims>): Promise<TxnTokenClaims> {
  try {
    return await p;
  } catch (e) {
    if (!(e instanceof JwtProfileError)) throw e;
    throw invalidRequest(`replace.${e.reason}`, REFUSED[e.code] ?? `the Txn-Token is rejected: ${e.message}`, e);
  }
}

/** Whether `txn` is revoked; a store that cannot answer refuses (503) unless `revocationFailOpen`. */
export async function isRevoked(ctx: Pick<TtsContext, 'store' | 'config'>, txn: string): Promise<boolean> {
  try {
    return await ctx.store.isRevoked(txn);
  } catch (e) {
    if (e instanceof StoreUnavailableError) {
      if (ctx.config.revocationFailOpen) return false;
      throw unavailable('replace.revocation_unavailable', 'revocation check unavailable; retry later', e);
    }
    throw e;
  }
}
