/**
 * Errors are values carrying an OAuth error code (RFC 6749 §5.2, RFC 8693 §2.2.2). Only the server renders them.
 * `description` is written by Baton, never copied from caller input, so nothing the caller sent is echoed back.
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

export class OAuthError extends Error {
  readonly error: OAuthErrorCode;
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    error: OAuthErrorCode,
    description: string,
    options: { status?: number; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(description, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OAuthError';
    this.error = error;
    this.status = options.status ?? defaultStatus(error);
    this.headers = options.headers ?? {};
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

export const invalidRequest = (d: string, cause?: unknown) => new OAuthError('invalid_request', d, { cause });
export const invalidClient = (d: string, cause?: unknown) => new OAuthError('invalid_client', d, { cause });
