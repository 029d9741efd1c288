import { importJWK, type CryptoKey, type JWK } from 'jose';
import * as oauth from 'oauth4webapi';
import { actChain, GRANT_TOKEN_EXCHANGE, isActChain, peekClaims, scopeList, TT_ACCESS_TOKEN, TT_TXN_TOKEN } from '../txn/index.js';

export { GRANT_TOKEN_EXCHANGE, TT_ACCESS_TOKEN, TT_TXN_TOKEN };

/** How the workload authenticates to the TTS (T-08). Prefer `privateKeyJwt` (W-02). */
export type ClientAuthentication =
  | { readonly method: 'private_key_jwt'; readonly jwk: JWK }
  | { readonly method: 'client_secret_basic' | 'client_secret_post'; readonly secret: string };

/** private_key_jwt (RFC 7523): a fresh, short-lived assertion with a new `jti` on every request. `jwk` is private. */
export function privateKeyJwt(jwk: JWK): ClientAuthentication {
  if (typeof jwk.d !== 'string') throw new TypeError('privateKeyJwt needs a private JWK');
  return { method: 'private_key_jwt', jwk };
}

/** client_secret_basic (default) or client_secret_post. */
export function clientSecret(secret: string, method: 'basic' | 'post' = 'basic'): ClientAuthentication {
  if (typeof secret !== 'string' || secret.length === 0) throw new TypeError('clientSecret needs a secret');
  return { method: method === 'post' ? 'client_secret_post' : 'client_secret_basic', secret };
}

export interface TokenExchangeClientOptions {
  /** the TTS issuer identifier; its RFC 8414 metadata is fetched from `<issuer>/.well-known/oauth-authorization-server` */
  issuer: string;
  clientId: string;
  auth: ClientAuthentication;
  /** the trust domain: `audience` of every exchange */
  trustDomain: string;
  /** allow plain http, for a TTS on a loopback address in development only (W-01) */
  allowInsecureHttp?: boolean;
  /** a token is reused until this many seconds before its `exp` (default 15) */
  refreshBeforeExpirySeconds?: number;
  /** at most this many cached tokens (default 1000; oldest evicted first) */
  maxCacheEntries?: number;
  /** per-request timeout towards the TTS (default 5000 ms) */
  timeoutMs?: number;
  /** a fetch to use instead of the global one (tests, Workers service bindings) */
  fetch?: typeof fetch;
  now?: () => number;
}

export interface ExchangeOptions {
  /** the user's token (an access token issued to this workload) */
  subjectToken: string;
  /** default `urn:ietf:params:oauth:token-type:access_token`; a Txn-Token goes through `replace()` */
  subjectTokenType?: string;
  scope: string | readonly string[];
  requestDetails?: Record<string, unknown>;
  requestContext?: Record<string, unknown>;
}

export interface ReplaceOptions {
  scope: string | readonly string[];
  requestDetails?: Record<string, unknown>;
  requestContext?: Record<string, unknown>;
}

export interface TxnTokenResult {
  /** the Txn-Token: send it in the `Txn-Token` header, never in `Authorization` */
  readonly token: string;
  /** the scopes granted (may be narrower than requested: T-14) */
  readonly scope: readonly string[];
  readonly requested: readonly string[];
  /** seconds since the epoch */
  readonly expiresAt: number;
  /** the transaction id (`txn`) and user (`sub`), for logs; read from the token the configured TTS returned */
  readonly txn: string | undefined;
  readonly sub: string | undefined;
  /** the workload chain, outermost (this workload) first */
  readonly chain: readonly string[];
  /** true when served from the cache */
  readonly cached: boolean;
}

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

export interface TokenExchangeClient {
  readonly issuer: string;
  readonly clientId: string;
  readonly trustDomain: string;
  exchange(o: ExchangeOptions): Promise<TxnTokenResult>;
  /** Replacement: a Txn-Token of this trust domain for a narrower scope or an added hop (R-01..R-06). */
  replace(txnToken: string, o: ReplaceOptions): Promise<TxnTokenResult>;
  /** Forgets every cached token. */
  clearCache(): void;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** W-01: only the configured TTS, over HTTPS; plain http only to a loopback host when explicitly allowed. */
function checkUrl(u: URL, what: string, allowInsecureHttp: boolean): void {
  if (u.protocol === 'https:') return;
  if (u.protocol === 'http:' && allowInsecureHttp && (LOOPBACK.has(u.hostname) || u.hostname.startsWith('127.'))) return;
  throw new TypeError(
    u.protocol === 'http:'
      ? `${what} must use https (allowInsecureHttp permits http to a loopback host only)`
      : `${what} must be an https URL`,
  );
}

function scopesOf(scope: string | readonly string[]): string[] {
  const out = scopeList(scope);
  if (out.length === 0) throw new TypeError('scope must name at least one scope');
  return out;
}

/** Deterministic JSON (sorted keys) for cache keys. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}

async function sha256(s: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(s)));
  let out = '';
  for (const b of d) out += b.toString(16).padStart(2, '0');
  return out;
}

function toError(e: unknown): TokenExchangeError {
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

interface CacheEntry {
  result: TxnTokenResult;
  /** reuse until (seconds) */
  until: number;
}

/**
 * A token-exchange client for one TTS (W-01..W-03). Discovery (RFC 8414) happens on first use and is retried after a
 * failure. Tokens are cached per (subject hash, scopes, details hash) until shortly before `exp`; concurrent identical
 * requests share one exchange. Nothing here logs; errors never contain a token.
 */
/** oauth4webapi's request options as a Fetch `RequestInit` (for a caller-supplied fetch). */
function fetchInit(init: oauth.CustomFetchOptions<string, URLSearchParams | undefined>): RequestInit {
  return {
    method: init.method,
    headers: init.headers,
    redirect: init.redirect,
    ...(init.body !== undefined ? { body: init.body } : {}),
    ...(init.signal !== undefined ? { signal: init.signal } : {}),
  };
}

export function createTokenExchangeClient(o: TokenExchangeClientOptions): TokenExchangeClient {
  const issuerUrl = new URL(o.issuer);
  const insecure = o.allowInsecureHttp === true;
  checkUrl(issuerUrl, 'issuer', insecure);
  if (typeof o.clientId !== 'string' || o.clientId.length === 0) throw new TypeError('clientId is required');
  if (typeof o.trustDomain !== 'string' || o.trustDomain.length === 0) throw new TypeError('trustDomain is required');
  const now = o.now ?? (() => Date.now());
  const skew = o.refreshBeforeExpirySeconds ?? 15;
  const maxEntries = o.maxCacheEntries ?? 1000;
  const timeoutMs = o.timeoutMs ?? 5000;
  const client: oauth.Client = { client_id: o.clientId };
  const viaFetch = o.fetch;
  const httpOptions = <Method extends 'GET' | 'POST', Body extends URLSearchParams | undefined>(): oauth.HttpRequestOptions<Method, Body> => ({
    signal: AbortSignal.timeout(timeoutMs),
    ...(insecure ? { [oauth.allowInsecureRequests]: true } : {}),
    ...(viaFetch !== undefined ? { [oauth.customFetch]: (url: string, init: oauth.CustomFetchOptions<Method, Body>) => viaFetch(url, fetchInit(init)) } : {}),
  });

  let clientAuth: Promise<oauth.ClientAuth> | undefined;
  const getClientAuth = (): Promise<oauth.ClientAuth> => {
    clientAuth ??= (async () => {
      const a = o.auth;
      if (a.method !== 'private_key_jwt') return a.method === 'client_secret_post' ? oauth.ClientSecretPost(a.secret) : oauth.ClientSecretBasic(a.secret);
      const alg = typeof a.jwk.alg === 'string' ? a.jwk.alg : a.jwk.kty === 'OKP' ? 'EdDSA' : a.jwk.crv === 'P-256' ? 'ES256' : undefined;
      if (alg === undefined) throw new TypeError('privateKeyJwt: set alg on the JWK');
      const key = (await importJWK(a.jwk, alg)) as CryptoKey;
      // oauth4webapi signs a new assertion per request: iss = sub = client id, aud = the issuer, fresh jti, short exp.
      return oauth.PrivateKeyJwt(typeof a.jwk.kid === 'string' ? { key, kid: a.jwk.kid } : key);
    })();
    clientAuth.catch(() => (clientAuth = undefined));
    return clientAuth;
  };

  let metadata: Promise<oauth.AuthorizationServer> | undefined;
  const getMetadata = (): Promise<oauth.AuthorizationServer> => {
    metadata ??= (async () => {
      const res = await oauth.discoveryRequest(issuerUrl, { ...httpOptions<'GET', undefined>(), algorithm: 'oauth2' });
      const as = await oauth.processDiscoveryResponse(issuerUrl, res); // issuer must equal the configured one
      if (typeof as.token_endpoint !== 'string') throw new TokenExchangeError('invalid_response', 'the TTS metadata has no token_endpoint', 0);
      checkUrl(new URL(as.token_endpoint), 'the TTS token_endpoint', insecure);
      if (Array.isArray(as.grant_types_supported) && !as.grant_types_supported.includes(GRANT_TOKEN_EXCHANGE))
        throw new TokenExchangeError('invalid_response', 'the TTS does not support token exchange', 0);
      return as;
    })();
    metadata.catch(() => (metadata = undefined)); // retry discovery on the next call
    return metadata;
  };

  const cache = new Map<string, CacheEntry>();
  const inflight = new Map<string, Promise<TxnTokenResult>>();

  async function request(subjectToken: string, subjectTokenType: string, requested: string[], details?: Record<string, unknown>, context?: Record<string, unknown>): Promise<TxnTokenResult> {
    if (typeof subjectToken !== 'string' || subjectToken.length === 0)
      throw new TokenExchangeError('invalid_request', 'a subject token is required', 0);
    // the key is built from exactly what is sent (JSON), so values that serialize differently (a Date, toJSON) never
    // share a cached token whose tctx carries other request_details
    let sent: unknown;
    try {
      sent = JSON.parse(JSON.stringify({ d: details ?? null, c: context ?? null }));
    } catch (e) {
      throw new TokenExchangeError('invalid_request', 'requestDetails and requestContext must be JSON-serializable', 0, { cause: e });
    }
    const key = [
      await sha256(subjectToken),
      subjectTokenType,
      [...requested].sort().join(' '),
      await sha256(canonical(sent)),
    ].join('\u0000');
    const nowSec = Math.floor(now() / 1000);
    const hit = cache.get(key);
    if (hit !== undefined) {
      if (hit.until > nowSec) return { ...hit.result, cached: true };
      cache.delete(key);
    }
    const pending = inflight.get(key);
    if (pending !== undefined) return pending;

    const p = (async (): Promise<TxnTokenResult> => {
      let body: oauth.TokenEndpointResponse;
      try {
        const as = await getMetadata();
        const params = new URLSearchParams({
          requested_token_type: TT_TXN_TOKEN,
          audience: o.trustDomain,
          scope: requested.join(' '),
          subject_token: subjectToken,
          subject_token_type: subjectTokenType,
        });
        if (details !== undefined) params.set('request_details', JSON.stringify(details));
        if (context !== undefined) params.set('request_context', JSON.stringify(context));
        const res = await oauth.genericTokenEndpointRequest(as, client, await getClientAuth(), GRANT_TOKEN_EXCHANGE, params, httpOptions<'POST', URLSearchParams>());
        body = await oauth.processGenericTokenEndpointResponse(as, client, res, { recognizedTokenTypes: { n_a: () => {} } });
      } catch (e) {
        throw toError(e);
      }
      if (body.issued_token_type !== TT_TXN_TOKEN)
        throw new TokenExchangeError('invalid_response', 'the TTS did not issue a Txn-Token', 200);
      const token = body.access_token;
      const claims = peekClaims(token);
      if (claims === undefined) throw new TokenExchangeError('invalid_response', 'the issued Txn-Token is not a JWT', 200);
      const issuedAt = Math.floor(now() / 1000);
      let expiresAt = typeof body.expires_in === 'number' ? issuedAt + body.expires_in : issuedAt;
      if (typeof claims.exp === 'number') expiresAt = Math.min(expiresAt, claims.exp);
      const granted = typeof body.scope === 'string' ? scopesOf(body.scope) : requested;
      const result: TxnTokenResult = {
        token,
        scope: granted,
        requested,
        expiresAt,
        txn: typeof claims.txn === 'string' ? claims.txn : undefined,
        sub: typeof claims.sub === 'string' ? claims.sub : undefined,
        chain: isActChain(claims.act) ? actChain(claims.act) : [],
        cached: false,
      };
      const until = expiresAt - skew;
      if (until > issuedAt) {
        if (cache.size >= maxEntries) {
          for (const [k, v] of cache) if (v.until <= issuedAt) cache.delete(k);
          while (cache.size >= maxEntries) {
            const oldest = cache.keys().next();
            if (oldest.done === true) break;
            cache.delete(oldest.value);
          }
        }
        cache.set(key, { result, until });
      }
      return result;
    })();
    inflight.set(key, p);
    try {
      return await p;
    } finally {
      inflight.delete(key);
    }
  }

  return {
    issuer: o.issuer,
    clientId: o.clientId,
    trustDomain: o.trustDomain,
    exchange(x: ExchangeOptions) {
      const type = x.subjectTokenType ?? TT_ACCESS_TOKEN;
      // W-03: a Txn-Token is never a credential of this workload; replacing one is explicit.
      if (type === TT_TXN_TOKEN) return Promise.reject(new TypeError('use replace() to exchange a Txn-Token'));
      return request(x.subjectToken, type, scopesOf(x.scope), x.requestDetails, x.requestContext);
    },
    replace(txnToken: string, x: ReplaceOptions) {
      return request(txnToken, TT_TXN_TOKEN, scopesOf(x.scope), x.requestDetails, x.requestContext);
    },
    clearCache() {
      cache.clear();
    },
  };
}
