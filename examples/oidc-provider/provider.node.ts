// A certified OpenID provider on loopback: panva's `oidc-provider` (OpenID Certified, the implementation behind many
// production IdPs), configured as a real IdP for the tests and for `npm run demo -- --idp oidc-provider`. Nothing here
// mints tokens itself: every token comes out of oidc-provider's own endpoints, driven over HTTP.
//
//   - authorization code flow with PKCE; the login and consent pages are oidc-provider's development interactions,
//     filled in programmatically (the HTML form is read and posted back with its cookies, as a browser would)
//   - client credentials grant
//   - resource indicators (RFC 8707): each resource server is JWT (RFC 9068 `at+jwt`) or opaque
//   - introspection (RFC 7662), with JWT answers (RFC 9701) for clients that register introspection_signed_response_alg
//   - revocation (RFC 7009), OpenID discovery, JWKS
//
// Development only (dev interactions accept any password; an in-memory adapter holds every token).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import * as oauth from 'oauth4webapi';
import Provider, { errors, type ClientMetadata, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';

export interface ResourceServerSpec {
  /** scopes the resource accepts (space-delimited) */
  scope: string;
  /** JWT access tokens (RFC 9068) or opaque ones (introspection only) */
  format: 'jwt' | 'opaque';
  /** access token lifetime, seconds (default 600) */
  ttl?: number;
}

export interface Account {
  /** claims released in ID tokens / userinfo (`email`, `name`, ...) */
  claims: Record<string, unknown>;
  /** claims added to every access token of this account (and to its introspection answers), e.g. roles */
  tokenClaims?: Record<string, unknown>;
}

export interface OidcProviderOptions {
  resources: Record<string, ResourceServerSpec>;
  clients: ClientMetadata[];
  accounts: Record<string, Account>;
  /** do not keep the Node process alive for this server (a provider started by a test runner's configuration) */
  unref?: boolean;
}

export interface RunningOidcProvider {
  /** `http://127.0.0.1:PORT`: the issuer identifier */
  issuer: string;
  provider: Provider;
  /** what oidc-provider warned about when it started (its development-only parts) */
  warnings: readonly string[];
  /** requests served, by path (e.g. `/token/introspection`) */
  requests(path: string): number;
  /** stops answering (connections are refused) until `resume()`; the port stays reserved */
  pause(): Promise<void>;
  resume(): Promise<void>;
  close(): Promise<void>;
}

async function listen(server: Server, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

async function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}

async function signingKeys(): Promise<JWK[]> {
  const rsa = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
  const ec = await generateKeyPair('ES256', { extractable: true });
  return [
    { ...(await exportJWK(rsa.privateKey)), kid: `rsa-${crypto.randomUUID().slice(0, 8)}`, use: 'sig' },
    { ...(await exportJWK(ec.privateKey)), kid: `ec-${crypto.randomUUID().slice(0, 8)}`, use: 'sig' },
  ];
}

/** Starts oidc-provider on a free loopback port. */
export async function startOidcProvider(o: OidcProviderOptions): Promise<RunningOidcProvider> {
  let handler: ((req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void) | undefined;
  const counts = new Map<string, number>();
  const onRequest = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    if (handler === undefined) res.writeHead(503).end();
    else handler(req, res);
  };
  let server = createServer(onRequest);
  const port = await listen(server);
  if (o.unref === true) server.unref();
  const issuer = `http://127.0.0.1:${port}`;

  const configuration: Configuration = {
    clients: o.clients,
    jwks: { keys: await signingKeys() },
    cookies: { keys: [crypto.randomUUID(), crypto.randomUUID()] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    scopes: ['openid', 'offline_access', 'email', 'profile'],
    pkce: { required: () => true, methods: ['S256'] },
    findAccount: async (_ctx, id) => {
      const account = o.accounts[id];
      if (account === undefined) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, ...account.claims }) };
    },
    extraTokenClaims: async (_ctx, token) => {
      const id = 'accountId' in token ? token.accountId : undefined;
      return id === undefined ? undefined : o.accounts[id]?.tokenClaims;
    },
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 600,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 600,
      AuthorizationCode: 60,
      IdToken: 600,
      RefreshToken: 3_600,
      Interaction: 600,
      Session: 3_600,
      Grant: 3_600,
    },
    // the default page renders the error in HTML; the harness reads it back (see authorizationCodeLogin)
    renderError: (ctx, out) => {
      ctx.type = 'json';
      ctx.body = out;
    },
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      // any confidential client may introspect (Baton's introspection clients authenticate; public clients never)
      introspection: { enabled: true, allowedPolicy: async (_ctx, client) => client.clientAuthMethod !== 'none' },
      jwtIntrospection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        useGrantedResource: async () => false,
        getResourceServerInfo: async (_ctx: KoaContextWithOIDC, indicator: string) => {
          const r = o.resources[indicator];
          if (r === undefined) throw new errors.InvalidTarget();
          return {
            scope: r.scope,
            accessTokenTTL: r.ttl ?? 600,
            accessTokenFormat: r.format,
            ...(r.format === 'jwt' ? { jwt: { sign: { alg: 'RS256' as const } } } : {}),
          };
        },
      },
    },
  };
  // oidc-provider warns on the console about its development-only parts (dev interactions, in-memory adapter);
  // they are kept and returned instead (`warnings`), so tests and the demo say it once, in their own words
  const warnings: string[] = [];
  const warn = console.warn;
  let provider: Provider;
  console.warn = (...args: unknown[]) => void warnings.push(args.map(String).join(' '));
  try {
    provider = new Provider(issuer, configuration);
  } finally {
    console.warn = warn;
  }
  handler = provider.callback();

  return {
    issuer,
    provider,
    warnings,
    requests: (path) => counts.get(path) ?? 0,
    pause: async () => {
      await stop(server);
    },
    resume: async () => {
      server = createServer(onRequest);
      await listen(server, port);
      if (o.unref === true) server.unref();
    },
    close: async () => {
      if (server.listening) await stop(server);
    },
  };
}

/** A tiny cookie jar: what a browser keeps between the provider's redirects (name, value, path). */
class CookieJar {
  readonly #cookies = new Map<string, { name: string; value: string; path: string }>();
  store(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const path = attrs.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith('path='))?.slice(5) ?? '/';
      const expired = attrs.some((a) => /^expires=thu, 01 jan 1970/i.test(a.trim())) || value === '';
      const key = `${name};${path}`;
      if (expired) this.#cookies.delete(key);
      else this.#cookies.set(key, { name, value, path });
    }
  }
  header(url: URL): string {
    return [...this.#cookies.values()]
      .filter((c) => url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }
}

/** The form of an HTML page: its action and inputs (hidden ones with their values). */
function readForm(html: string, base: URL): { action: URL; fields: Map<string, string> } {
  const form = /<form[^>]*action="([^"]+)"[^>]*method="post"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (form === null) throw new Error('oidc-provider: the interaction page has no form');
  const fields = new Map<string, string>();
  for (const m of form[2]!.matchAll(/<input([^>]*)>/gi)) {
    const name = /name="([^"]*)"/.exec(m[1]!)?.[1];
    if (name !== undefined) fields.set(name, /value="([^"]*)"/.exec(m[1]!)?.[1] ?? '');
  }
  return { action: new URL(form[1]!.replace(/&amp;/g, '&'), base), fields };
}

export interface AuthorizationCodeLogin {
  issuer: string;
  client: { client_id: string; client_secret: string; redirect_uri: string };
  /** the account that signs in (dev interactions accept any password) */
  login: string;
  scope: string;
  /** RFC 8707 resource indicator: the audience of the access token */
  resource: string;
}

export interface LoginResult {
  access_token: string;
  id_token: string | undefined;
  refresh_token: string | undefined;
  scope: string | undefined;
  expires_in: number | undefined;
  /** what the browser visited, in order (`METHOD /path`) */
  visited: string[];
}

/**
 * The authorization code flow with PKCE, as a browser and a confidential client would run it: /auth, the login page
 * (form posted with the account), the consent page (form posted), the redirect back with the code, then the token
 * request with the resource indicator (oauth4webapi). Every step is an HTTP request to oidc-provider.
 */
export async function authorizationCodeLogin(l: AuthorizationCodeLogin): Promise<LoginResult> {
  const issuer = new URL(l.issuer);
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oidc', [oauth.allowInsecureRequests]: true }));
  const client: oauth.Client = { client_id: l.client.client_id };
  const auth = oauth.ClientSecretBasic(l.client.client_secret);
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const start = new URL(as.authorization_endpoint!);
  for (const [k, v] of Object.entries({
    client_id: l.client.client_id, response_type: 'code', redirect_uri: l.client.redirect_uri, scope: l.scope, state, nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', resource: l.resource,
    // OIDC Core §11: offline_access is granted only with an explicit consent prompt
    ...(l.scope.split(' ').includes('offline_access') ? { prompt: 'consent' } : {}),
  }))
    start.searchParams.set(k, v);

  const jar = new CookieJar();
  const visited: string[] = [];
  let url = start;
  let init: RequestInit = {};
  let callback: URL | undefined;
  for (let hop = 0; hop < 20 && callback === undefined; hop++) {
    visited.push(`${init.method ?? 'GET'} ${url.pathname}`);
    const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string> | undefined), cookie: jar.header(url) } });
    jar.store(res);
    init = {};
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel();
      const next = new URL(res.headers.get('location')!, url);
      if (next.href.startsWith(l.client.redirect_uri)) callback = next;
      else url = next;
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) throw new Error(`oidc-provider: ${url.pathname} answered ${res.status}: ${html.slice(0, 300)}`);
    const { action, fields } = readForm(html, url);
    if (fields.get('prompt') === 'login') {
      fields.set('login', l.login);
      fields.set('password', 'any password: dev interactions check none');
    } // consent: the hidden fields are the whole form
    url = action;
    init = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams([...fields]).toString() };
  }
  if (callback === undefined) throw new Error('oidc-provider: the flow did not come back to the redirect_uri');
  const params = oauth.validateAuthResponse(as, client, callback, state);
  const response = await oauth.authorizationCodeGrantRequest(as, client, auth, params, l.client.redirect_uri, verifier, {
    additionalParameters: { resource: l.resource },
    [oauth.allowInsecureRequests]: true,
  });
  const tokens = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: nonce, requireIdToken: l.scope.split(' ').includes('openid') });
  return { access_token: tokens.access_token, id_token: tokens.id_token, refresh_token: tokens.refresh_token, scope: tokens.scope, expires_in: tokens.expires_in, visited };
}

/** The client credentials grant for a resource (RFC 8707), through oauth4webapi. */
export async function clientCredentialsToken(issuerUrl: string, clientId: string, secret: string, o: { scope: string; resource: string }): Promise<oauth.TokenEndpointResponse> {
  const issuer = new URL(issuerUrl);
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oidc', [oauth.allowInsecureRequests]: true }));
  const client: oauth.Client = { client_id: clientId };
  const response = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(secret), new URLSearchParams({ scope: o.scope, resource: o.resource }), {
    [oauth.allowInsecureRequests]: true,
  });
  return oauth.processClientCredentialsResponse(as, client, response);
}

/** RFC 7009 revocation at the provider, by the client the token was issued to. */
export async function revokeAtProvider(issuerUrl: string, clientId: string, secret: string, token: string): Promise<void> {
  const issuer = new URL(issuerUrl);
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oidc', [oauth.allowInsecureRequests]: true }));
  const client: oauth.Client = { client_id: clientId };
  const response = await oauth.revocationRequest(as, client, oauth.ClientSecretBasic(secret), token, { [oauth.allowInsecureRequests]: true });
  await oauth.processRevocationResponse(response);
}
