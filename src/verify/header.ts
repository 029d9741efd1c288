import { MAX_TXN_TOKEN_CHARS } from '../jose/json-bounds.js';
import { TxnTokenError } from './errors.js';

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * V-01: the value of the one `Txn-Token` header: exactly one compact JWS, no scheme prefix. Two headers arrive
 * comma-joined (fetch `Headers`, Node): `multiple`.
 */
export function parseTxnTokenHeader(value: string | null | undefined): string {
  if (value === null || value === undefined) throw new TxnTokenError('missing', 'the Txn-Token header is required', { reason: 'header.missing' });
  if (typeof value !== 'string') throw new TxnTokenError('malformed', 'the Txn-Token header must be a string', { reason: 'header.not_string' });
  const v = value.trim();
  // one compact JWS within bounds passes every check below: tested first, the common case costs one regex
  if (v.length <= MAX_TXN_TOKEN_CHARS && COMPACT_JWS.test(v)) return v;
  if (v.length === 0) throw new TxnTokenError('missing', 'the Txn-Token header is empty', { reason: 'header.empty' });
  if (v.includes(',')) throw new TxnTokenError('multiple', 'exactly one Txn-Token is allowed', { reason: 'header.multiple' });
  if (/^bearer\s/i.test(v)) throw new TxnTokenError('malformed', 'the Txn-Token header carries the token alone, without a Bearer prefix', { reason: 'header.bearer' });
  if (/\s/.test(v)) throw new TxnTokenError('malformed', 'the Txn-Token header must hold exactly one token', { reason: 'header.whitespace' });
  if (v.length > MAX_TXN_TOKEN_CHARS) throw new TxnTokenError('malformed', 'the Txn-Token is too large', { reason: 'header.too_large' });
  // within bounds and not returned above: not a compact JWS
  throw new TxnTokenError('malformed', 'the Txn-Token is not a compact JWS', { reason: 'header.not_jws' });
}

/** The refusal of a missing header, saying that a token in `Authorization` is never read (V-01). */
export function missingWithAuthorization(e: unknown): unknown {
  if (e instanceof TxnTokenError && e.code === 'missing')
    return new TxnTokenError('missing', 'the Txn-Token header is required (a token in Authorization is never accepted as a Txn-Token)', { reason: e.reason });
  return e;
}
