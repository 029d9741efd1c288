import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { MiddlewareHandler } from 'hono';
import type { JWTVerifyGetKey } from 'jose';
import { keySource } from '../jose/key-source.js';
import { JwtProfileError, verifyAccessToken, type JwtReason } from '../jose/profiles.js';
import { peekString, readScopeClaim } from '../txn/index.js';

/**
 * The resource-server side the MCP authorization specification requires of an MCP server:
 *  - validate the user's access token: issuer, signature (JWKS), audience = this server's canonical URI (RFC 8707),
 *    expiry, `typ: at+jwt` (RFC 9068);
 *  - publish RFC 9728 Protected Resource Metadata;
 *  - answer 401 with `WWW-Authenticate: Bearer resource_metadata="..."` (403 `insufficient_scope` for missing scopes).
 * Web-standard only (Node and Workers).
 */

export interface AuthorizationServerTrust {
  /** the access-token issuer (`iss`) */
  issuer: string;
  jwks?: { keys: readonly object[] } | undefined;
  jwksUri?: string | undefined;
  /** default RS256, PS256, ES256, EdDSA */
  algorithms?: readonly string[] | undefined;
  /** accepted JWS `typ` values (default RFC 9068 `at+jwt`) */
  typ?: readonly string[] | undefined;
}

export interface McpResourceServerOptions {
  /** this MCP server's canonical URI, e.g. `https://mcp.example.com/mcp`: the audience tokens must carry */
  resource: string;
  authorizationServers: readonly AuthorizationServerTrust[];
  /** scopes every request must carry (403 `insufficient_scope` otherwise) */
  requiredScopes?: readonly string[] | undefined;
  /** advertised in the metadata */
  scopesSupported?: readonly string[] | undefined;
  resourceName?: string | undefined;
  /** seconds of tolerated clock skew (default 30, at most 60) */
  clockTolerance?: number | undefined;
  /** for tests: the current time */
  now?: (() => Date) | undefined;
}

/** A refused request: render `status`, `headers` and `body` as they are. Never contains the token. */
/**
 * Which check refused an access token: `token.missing`, `token.authorization` (not one Bearer token),
 * `token.issuer_untrusted`, `token.<profile reason>` (`token.expired`, `token.wrong_audience`, ...), `token.insufficient_scope`.
 * In the error value only; the answer carries the RFC 6750 error.
 */
export type McpAuthReason = 'token.missing' | 'token.authorization' | 'token.issuer_untrusted' | `token.${JwtReason}` | 'token.insufficient_scope' | 'token.internal';

export class McpAuthError extends Error {
  readonly status: 401 | 403;
  readonly error: 'invalid_request' | 'invalid_token' | 'insufficient_scope' | undefined;
  readonly reason: McpAuthReason;
  readonly headers: Readonly<Record<string, string>>;
  constructor(status: 401 | 403, error: McpAuthError['error'], description: string, headers: Record<string, string>, reason: McpAuthReason) {
    super(description);
    this.name = 'McpAuthError';
    this.status = status;
    this.error = error;
    this.reason = reason;
    this.headers = headers;
  }
  body(): { error: string; error_description: string } {
    return { error: this.error ?? 'unauthorized', error_description: this.message };
  }
}

export interface McpResourceServer {
  readonly resource: string;
  /** where the Protected Resource Metadata is served (path-inserted form of RFC 9728 §3.1) */
  readonly metadataUrl: string;
  /** the RFC 9728 document */
  readonly metadata: Readonly<Record<string, unknown>>;
  /** paths (on this server's origin) that serve the metadata: the path-inserted one and the root one */
  readonly metadataPaths: readonly string[];
  /** validates a bearer access token; throws McpAuthError */
  verifyAccessToken(token: string): Promise<AuthInfo>;
  /** reads `Authorization: Bearer` from a request and validates it; throws McpAuthError */
  authenticate(request: Request): Promise<AuthInfo>;
  /** hono middleware: sets `c.var.auth` or answers 401/403 */
  middleware: MiddlewareHandler<McpAuthEnv>;
  /** a handler for the metadata paths (GET) */
  metadataResponse(): Response;
}

export interface McpAuthEnv {
  Variables: { auth: AuthInfo };
}

function q(s: string): string {
  return s.replace(/[\\"]/g, '').replace(/[\r\n]/g, ' ');
}

function stripSlash(s: string): string {
  return s.endsWith('/') ? s.slice(0, -1) : s;
}

const RESERVED = new Set(['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti', 'scope', 'scp', 'client_id', 'azp']);

const REFUSED: Record<string, string> = {
  expired: 'the access token is expired',
  wrong_audience: 'the access token was not issued for this MCP server',
  wrong_type: 'the token is not an RFC 9068 access token (typ at+jwt)',
  wrong_issuer: 'the access token issuer is not trusted',
  bad_signature: 'the access token signature is invalid',
  unknown_kid: 'the access token key is unknown',
  bad_algorithm: 'the access token algorithm is not allowed',
  not_yet_valid: 'the access token is not yet valid',
  missing_claim: 'the access token lacks a required claim',
  malformed: 'the access token is malformed',
};

/** What the options fix once: where the metadata is, the audiences a token must carry, the trusted issuers' keys. */
interface ResourceServerSettings {
  readonly o: McpResourceServerOptions;
  readonly clockSkew: number;
  readonly metadataPaths: readonly string[];
  readonly metadataUrl: string;
  readonly audiences: readonly string[];
  readonly trusts: ReadonlyMap<string, { t: AuthorizationServerTrust; getKey: JWTVerifyGetKey }>;
  readonly metadata: Readonly<Record<string, unknown>>;
}

function settingsOf(o: McpResourceServerOptions): ResourceServerSettings {
  const resourceUrl = new URL(o.resource);
  if (resourceUrl.hash !== '') throw new TypeError('resource must not contain a fragment (RFC 8707)');
  if (o.authorizationServers.length === 0) throw new TypeError('at least one authorization server is required');
  const tolerance = o.clockTolerance ?? 30;
  // NaN or a negative value would disable the exp/iat/nbf checks (fail open): refuse it here
  if (typeof tolerance !== 'number' || !Number.isFinite(tolerance) || tolerance < 0) throw new TypeError('clockTolerance must be a number of seconds >= 0');
  const path = resourceUrl.pathname === '/' ? '' : stripSlash(resourceUrl.pathname);
  const metadataPaths = path === '' ? ['/.well-known/oauth-protected-resource'] : [`/.well-known/oauth-protected-resource${path}`, '/.well-known/oauth-protected-resource'];
  const trusts = new Map<string, { t: AuthorizationServerTrust; getKey: JWTVerifyGetKey }>();
  for (const t of o.authorizationServers) trusts.set(t.issuer, { t, getKey: keySource({ jwks: t.jwks, jwksUri: t.jwksUri }) });
  return {
    o,
    clockSkew: Math.min(tolerance, 60),
    metadataPaths,
    metadataUrl: `${resourceUrl.origin}${metadataPaths[0]}`,
    // the audience as the authorization server writes it: with and without one trailing slash
    audiences: [...new Set([o.resource, stripSlash(o.resource), `${stripSlash(o.resource)}/`])],
    trusts,
    metadata: {
      resource: o.resource,
      authorization_servers: o.authorizationServers.map((a) => a.issuer),
      bearer_methods_supported: ['header'],
      ...(o.scopesSupported !== undefined ? { scopes_supported: [...o.scopesSupported] } : {}),
      ...(o.resourceName !== undefined ? { resource_name: o.resourceName } : {}),
    },
  };
}

function challenge(s: ResourceServerSettings, error?: string, description?: string, scope?: string): string {
  let v = `Bearer resource_metadata="${q(s.metadataUrl)}"`;
  if (error !== undefined) v += `, error="${error}"`;
  if (description !== undefined) v += `, error_description="${q(description)}"`;
  if (scope !== undefined) v += `, scope="${q(scope)}"`;
  return v;
}

function unauthorized(s: ResourceServerSettings, reason: McpAuthReason, error: 'invalid_request' | 'invalid_token' | undefined, description: string): McpAuthError {
  const headers = { 'WWW-Authenticate': challenge(s, error, error === undefined ? undefined : description), 'Cache-Control': 'no-store' };
  return new McpAuthError(401, error, description, headers, reason);
}

/** Validates a bearer access token (RFC 9068 profile: issuer, signature, audience = this resource, expiry, typ). */
async function verifyBearer(s: ResourceServerSettings, token: string): Promise<AuthInfo> {
  const iss = peekString(token, 'iss');
  const trust = iss === undefined ? undefined : s.trusts.get(iss);
  if (trust === undefined) throw unauthorized(s, 'token.issuer_untrusted', 'invalid_token', 'the access token was not issued by a trusted authorization server');
  let payload;
  try {
    payload = await verifyAccessToken(token, {
      getKey: trust.getKey,
      algorithms: trust.t.algorithms ?? ['RS256', 'PS256', 'ES256', 'EdDSA'],
      typ: trust.t.typ ?? ['at+jwt'],
      issuer: trust.t.issuer,
      audiences: s.audiences,
      clockSkew: s.clockSkew,
      ...(s.o.now !== undefined ? { currentDate: s.o.now() } : {}),
    });
  } catch (e) {
    const reason: McpAuthReason = e instanceof JwtProfileError ? `token.${e.reason}` : 'token.internal';
    throw unauthorized(s, reason, 'invalid_token', REFUSED[e instanceof JwtProfileError ? e.code : 'invalid'] ?? 'the access token is not valid');
  }
  const claims = payload as Record<string, unknown>;
  const clientId = typeof claims.client_id === 'string' ? claims.client_id : typeof claims.azp === 'string' ? claims.azp : '';
  const extra: Record<string, unknown> = { sub: payload.sub, iss: payload.iss };
  for (const [k, v] of Object.entries(claims)) if (!RESERVED.has(k) && extra[k] === undefined) extra[k] = v;
  return {
    token,
    clientId,
    scopes: readScopeClaim(claims) ?? [],
    ...(typeof payload.exp === 'number' ? { expiresAt: payload.exp } : {}),
    resource: new URL(s.o.resource),
    extra,
  };
}

/** Reads `Authorization: Bearer` (exactly one token), validates it, and checks the required scopes (403 when missing). */
async function authenticateRequest(s: ResourceServerSettings, request: Request): Promise<AuthInfo> {
  const h = request.headers.get('authorization');
  if (h === null || h.length === 0) throw unauthorized(s, 'token.missing', undefined, 'an access token is required');
  const m = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i.exec(h);
  if (m === null) throw unauthorized(s, 'token.authorization', 'invalid_request', 'Authorization must be a single Bearer token');
  const info = await verifyBearer(s, m[1]!);
  const required = s.o.requiredScopes ?? [];
  const missing = required.filter((x) => !info.scopes.includes(x));
  if (missing.length > 0)
    throw new McpAuthError(
      403,
      'insufficient_scope',
      `the access token lacks scope ${missing.join(' ')}`,
      { 'WWW-Authenticate': challenge(s, 'insufficient_scope', undefined, required.join(' ')), 'Cache-Control': 'no-store' },
      'token.insufficient_scope',
    );
  return info;
}

export function createMcpResourceServer(o: McpResourceServerOptions): McpResourceServer {
  const s = settingsOf(o);
  const authenticate = (request: Request) => authenticateRequest(s, request);
  const middleware: MiddlewareHandler<McpAuthEnv> = async (c, next) => {
    try {
      c.set('auth', await authenticate(c.req.raw));
    } catch (e) {
      const err = e instanceof McpAuthError ? e : unauthorized(s, 'token.internal', 'invalid_token', 'the access token could not be validated');
      return c.json(err.body(), err.status, { ...err.headers });
    }
    await next();
  };
  return {
    resource: o.resource,
    metadataUrl: s.metadataUrl,
    metadata: s.metadata,
    metadataPaths: s.metadataPaths,
    verifyAccessToken: (token) => verifyBearer(s, token),
    authenticate,
    middleware,
    metadataResponse: () =>
      new Response(JSON.stringify(s.metadata), { status: 200, headers: { 'Content-Type': 'application/json', 'Cache-Control': 'public, max-age=300' } }),
  };
}
