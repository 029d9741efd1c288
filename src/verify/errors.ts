import type { JwtErrorCode, JwtReason } from '../jose/profiles.js';

/** Why a Txn-Token was refused at a receiving service. Stable: services and clients may switch on it. */
export type TxnTokenErrorCode =
  /** the profile's codes, except `invalid_claim` (reported as `malformed`) and `key_unavailable` (`unavailable`) */
  | Exclude<JwtErrorCode, 'invalid_claim' | 'key_unavailable'>
  | 'missing'
  | 'multiple'
  | 'revoked'
  | 'replayed'
  | 'unavailable';

/**
 * Which check refused, finer than the code: the header check (V-01), the profile's reason (`bad_algorithm`,
 * `invalid_claim.sub`, `missing_claim.txn`, ...), or the store checks (V-08, V-09). In the error value and the decision
 * log's `reason_code`; the HTTP answer carries the code only.
 */
export type TxnTokenReason =
  | 'header.missing'
  | 'header.empty'
  | 'header.not_string'
  | 'header.multiple'
  | 'header.bearer'
  | 'header.whitespace'
  | 'header.too_large'
  | 'header.not_jws'
  | JwtReason
  | 'revoked'
  | 'revocation_unavailable'
  | 'replayed'
  | 'replay_unavailable'
  | 'closed'
  | 'internal';

/**
 * A refused Txn-Token. `status` is 401, except `unavailable` (a key set or store could not answer): 503.
 * The message never contains the token or any part of it (V-11).
 */
export class TxnTokenError extends Error {
  readonly code: TxnTokenErrorCode;
  readonly reason: TxnTokenReason;
  readonly status: 401 | 503;
  constructor(code: TxnTokenErrorCode, message: string, options: { reason: TxnTokenReason; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TxnTokenError';
    this.code = code;
    this.reason = options.reason;
    this.status = code === 'unavailable' ? 503 : 401;
  }
}
