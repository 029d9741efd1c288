import type { JwtErrorCode } from '../jose/profiles.js';
import type { AuthorizeDecision } from './authorize.js';

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
 * A refused Txn-Token. `status` is 401, except `unavailable` (a key set or store could not answer): 503.
 * The message never contains the token or any part of it (V-11).
 */
export class TxnTokenError extends Error {
  readonly code: TxnTokenErrorCode;
  readonly status: 401 | 503;
  constructor(code: TxnTokenErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TxnTokenError';
    this.code = code;
    this.status = code === 'unavailable' ? 503 : 401;
  }
}

/** An authorization decision that denied (from `requireAllowed`). Maps to 403. */
export class ForbiddenError extends Error {
  readonly code = 'forbidden' as const;
  readonly status = 403 as const;
  readonly decision: AuthorizeDecision;
  constructor(decision: AuthorizeDecision) {
    super(decision.reason);
    this.name = 'ForbiddenError';
    this.decision = decision;
  }
}
