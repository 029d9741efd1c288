import { injectTrace } from '../trace/index.js';
import * as oauth from 'oauth4webapi';
import { actChain, GRANT_TOKEN_EXCHANGE, isActChain, peekClaims, scopeList, TT_ACCESS_TOKEN, TT_TXN_TOKEN } from '../txn/index.js';
import { clientAuthOf, type ClientAuthentication } from './auth.js';
import { cacheKey, ResultCache } from './cache.js';
import { toError, TokenExchangeError } from './errors.js';

export { GRANT_TOKEN_EXCHANGE, TT_ACCESS_TOKEN, TT_TXN_TOKEN };
export { clientSecret, privateKeyJwt, type ClientAuthentication } from './auth.js';
export { TokenExchangeError } from './errors.js';

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

/** One exchange's input, as sent. */
interface ExchangeRequestOf {
  subjectToken: string;
  subjectTokenType: string;
  requested: string[];
  details: Record<string, unknown> | undefined;
  context: Record<string, unknown> | undefined;
}

/** The TTS as this client talks to it: its metadata (discovered once, retried after a failure) and token requests. */
interface TtsConnection {
  post(r: ExchangeRequestOf): Promise<oauth.TokenEndpointResponse>;
}

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

function ttsConnection(o: TokenExchangeClientOptions, issuerUrl: URL): TtsConnection {
  const insecure = o.allowInsecureHttp === true;
  const timeoutMs = o.timeoutMs ?? 5000;
  const client: oauth.Client = { client_id: o.clientId };
  const getClientAuth = clientAuthOf(o.auth);
  const viaFetch = o.fetch;
  const httpOptions = <Method extends 'GET' | 'POST', Body extends URLSearchParams | undefined>(): oauth.HttpRequestOptions<Method, Body> => ({
    signal: AbortSignal.timeout(timeoutMs),
    ...(insecure ? { [oauth.allowInsecureRequests]: true } : {}),
    ...(viaFetch !== undefined ? { [oauth.customFetch]: (url: string, init: oauth.CustomFetchOptions<Method, Body>) => viaFetch(url, fetchInit(init)) } : {}),
  });
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
  return {
    async post(r) {
      const as = await getMetadata();
      const params = new URLSearchParams({
        requested_token_type: TT_TXN_TOKEN,
        audience: o.trustDomain,
        scope: r.requested.join(' '),
        subject_token: r.subjectToken,
        subject_token_type: r.subjectTokenType,
      });
      if (r.details !== undefined) params.set('request_details', JSON.stringify(r.details));
      if (r.context !== undefined) params.set('request_context', JSON.stringify(r.context));
      // the workload's trace goes on to the TTS (W3C traceparent; the application's propagator when it set one)
      const trace = new Headers();
      injectTrace(trace);
      const res = await oauth.genericTokenEndpointRequest(as, client, await getClientAuth(), GRANT_TOKEN_EXCHANGE, params, {
        ...httpOptions<'POST', URLSearchParams>(),
        ...(trace.has('traceparent') ? { headers: trace } : {}),
      });
      return oauth.processGenericTokenEndpointResponse(as, client, res, { recognizedTokenTypes: { n_a: () => {} } });
    },
  };
}

/** The result of an answer: the token, the scope granted, its expiry (never later than the token's own `exp`), who. */
function resultOf(body: oauth.TokenEndpointResponse, requested: string[], issuedAt: number): TxnTokenResult {
  if (body.issued_token_type !== TT_TXN_TOKEN) throw new TokenExchangeError('invalid_response', 'the TTS did not issue a Txn-Token', 200);
  const token = body.access_token;
  const claims = peekClaims(token);
  if (claims === undefined) throw new TokenExchangeError('invalid_response', 'the issued Txn-Token is not a JWT', 200);
  let expiresAt = typeof body.expires_in === 'number' ? issuedAt + body.expires_in : issuedAt;
  if (typeof claims.exp === 'number') expiresAt = Math.min(expiresAt, claims.exp);
  return {
    token,
    scope: typeof body.scope === 'string' ? scopesOf(body.scope) : requested,
    requested,
    expiresAt,
    txn: typeof claims.txn === 'string' ? claims.txn : undefined,
    sub: typeof claims.sub === 'string' ? claims.sub : undefined,
    chain: isActChain(claims.act) ? actChain(claims.act) : [],
    cached: false,
  };
}

/**
 * The cache key of a request, built from exactly what is sent (JSON), so values that serialize differently (a Date,
 * toJSON) never share a cached token whose tctx carries other request_details.
 */
async function requestKey(r: ExchangeRequestOf): Promise<string> {
  if (typeof r.subjectToken !== 'string' || r.subjectToken.length === 0) throw new TokenExchangeError('invalid_request', 'a subject token is required', 0);
  let sent: unknown;
  try {
    sent = JSON.parse(JSON.stringify({ d: r.details ?? null, c: r.context ?? null }));
  } catch (e) {
    throw new TokenExchangeError('invalid_request', 'requestDetails and requestContext must be JSON-serializable', 0, { cause: e });
  }
  return cacheKey(r.subjectToken, r.subjectTokenType, r.requested, sent);
}

/**
 * A token-exchange client for one TTS (W-01..W-03). Discovery (RFC 8414) happens on first use and is retried after a
 * failure. Tokens are cached per (subject hash, scopes, details hash) until shortly before `exp`; concurrent identical
 * requests share one exchange. Nothing here logs; errors never contain a token.
 */
export function createTokenExchangeClient(o: TokenExchangeClientOptions): TokenExchangeClient {
  const issuerUrl = new URL(o.issuer);
  checkUrl(issuerUrl, 'issuer', o.allowInsecureHttp === true);
  if (typeof o.clientId !== 'string' || o.clientId.length === 0) throw new TypeError('clientId is required');
  if (typeof o.trustDomain !== 'string' || o.trustDomain.length === 0) throw new TypeError('trustDomain is required');
  const now = o.now ?? (() => Date.now());
  const skew = o.refreshBeforeExpirySeconds ?? 15;
  const tts = ttsConnection(o, issuerUrl);
  const cache = new ResultCache<TxnTokenResult>(o.maxCacheEntries ?? 1000);
  const inflight = new Map<string, Promise<TxnTokenResult>>();

  async function exchangeOnce(key: string, r: ExchangeRequestOf): Promise<TxnTokenResult> {
    let body: oauth.TokenEndpointResponse;
    try {
      body = await tts.post(r);
    } catch (e) {
      throw toError(e);
    }
    const issuedAt = Math.floor(now() / 1000);
    const result = resultOf(body, r.requested, issuedAt);
    cache.put(key, result, result.expiresAt - skew, issuedAt);
    return result;
  }

  async function request(r: ExchangeRequestOf): Promise<TxnTokenResult> {
    const key = await requestKey(r);
    const hit = cache.get(key, Math.floor(now() / 1000));
    if (hit !== undefined) return hit;
    const pending = inflight.get(key);
    if (pending !== undefined) return pending;
    const p = exchangeOnce(key, r);
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
      return request({ subjectToken: x.subjectToken, subjectTokenType: type, requested: scopesOf(x.scope), details: x.requestDetails, context: x.requestContext });
    },
    replace(txnToken: string, x: ReplaceOptions) {
      return request({ subjectToken: txnToken, subjectTokenType: TT_TXN_TOKEN, requested: scopesOf(x.scope), details: x.requestDetails, context: x.requestContext });
    },
    clearCache() {
      cache.clear();
    },
  };
}
