import { StoreUnavailableError } from '../store/types.js';
import type { RefusalReason } from './reasons.js';

export type { RefusalReason };

/**
 * Errors are values carrying an OAuth error code (RFC 6749 §5.2, RFC 8693 §2.2.2) and the reason (`RefusalReason`).
 * Only the server renders them. `description` is written by Baton, never copied from caller input, so nothing the
 * caller sent is echoed back; the reason is for the decision log only (see reasons.ts).
 */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'unsupported_token_type'
  | 'temporarily_unavailable'
  | 'server_error';

export interface OAuthErrorOptions {
  /** which check refused (decision log and error value only, never the HTTP body) */
  reason: RefusalReason;
  status?: number;
  headers?: Record<string, string>;
  cause?: unknown;
}

export class OAuthError extends Error {
  readonly error: OAuthErrorCode;
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly reason: RefusalReason;

  constructor(error: OAuthErrorCode, description: string, options: OAuthErrorOptions) {
    super(description, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OAuthError';
    this.error = error;
    this.status = options.status ?? defaultStatus(error);
    this.headers = options.headers ?? {};
    this.reason = options.reason;
  }

  /** RFC 6749 §5.2 body. */
  toJSON(): { error: string; error_description: string } {
    return { error: this.error, error_description: this.message };
  }
}

function defaultStatus(code: OAuthErrorCode): number {
  switch (code) {
    case 'invalid_client':
      return 401;
    case 'temporarily_unavailable':
      return 503;
    case 'server_error':
      return 500;
    default:
      return 400;
  }
}

export const invalidRequest = (reason: RefusalReason, description: string, cause?: unknown) => new OAuthError('invalid_request', description, { reason, cause });
export const invalidClient = (reason: RefusalReason, description: string, cause?: unknown) => new OAuthError('invalid_client', description, { reason, cause });
export const unavailable = (reason: RefusalReason, description: string, cause?: unknown) => new OAuthError('temporarily_unavailable', description, { reason, cause });

/** Anything that is not already an OAuth error becomes one; store outages are 503, the rest is never echoed. */
export function toOAuthError(e: unknown): OAuthError {
  if (e instanceof OAuthError) return e;
  if (e instanceof StoreUnavailableError) return unavailable('store.unavailable', 'a required store is unavailable; retry later', e);
  return new OAuthError('server_error', 'internal error', { reason: 'internal', cause: e });
}
