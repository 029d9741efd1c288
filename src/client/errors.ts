import * as oauth from 'oauth4webapi';

/** An exchange refused or failed. `error` is the OAuth error code (RFC 6749 §5.2 / RFC 8693 §2.2.2). */
export class TokenExchangeError extends Error {
  readonly error: string;
  readonly description: string | undefined;
  /** HTTP status of the TTS response; 0 when no response was received */
  readonly status: number;
  constructor(error: string, description: string | undefined, status: number, options?: { cause?: unknown }) {
    super(description === undefined ? error : `${error}: ${description}`, options);
    this.name = 'TokenExchangeError';
    this.error = error;
    this.description = description;
    this.status = status;
  }
}

/** Anything that went wrong in an exchange, as a TokenExchangeError (never containing a token). */
export function toError(e: unknown): TokenExchangeError {
  if (e instanceof TokenExchangeError) return e;
  if (e instanceof oauth.ResponseBodyError) return new TokenExchangeError(e.error, e.error_description, e.status, { cause: e });
  if (e instanceof oauth.WWWAuthenticateChallengeError) {
    const p = e.cause[0]?.parameters;
    const error = typeof p?.error === 'string' ? p.error : e.status === 401 ? 'invalid_client' : 'invalid_request';
    const desc = typeof p?.error_description === 'string' ? p.error_description : undefined;
    return new TokenExchangeError(error, desc, e.status, { cause: e });
  }
  if (e instanceof oauth.OperationProcessingError || e instanceof oauth.UnsupportedOperationError)
    return new TokenExchangeError('invalid_response', `the TTS response was not acceptable: ${e.message}`, 0, { cause: e });
  if (e instanceof TypeError && /fetch|network|connect/i.test(e.message))
    return new TokenExchangeError('temporarily_unavailable', 'the TTS cannot be reached', 0, { cause: e });
  if (e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError'))
    return new TokenExchangeError('temporarily_unavailable', 'the TTS did not answer in time', 0, { cause: e });
  return new TokenExchangeError('temporarily_unavailable', 'the token exchange failed', 0, { cause: e });
}
