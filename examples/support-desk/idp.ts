// A small bundled identity provider for the demo: it issues RFC 9068 JWT access tokens (typ at+jwt) whose audience
// is the resource the client names (RFC 8707 `resource`), signs them with its own ES256 key and publishes its JWKS and
// RFC 8414 metadata. "Login" is a demo shortcut: POST /token with grant_type=urn:baton:demo:login and a username.
// A real deployment uses its own IdP (Auth0, Entra, Keycloak, ...); nothing else in the scenario depends on this one.
import { Hono } from 'hono';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';

export const DEMO_LOGIN_GRANT = 'urn:baton:demo:login';

export interface DemoUser {
  sub: string;
  /** what the user consented to for the agent (space-delimited) */
  scope: string;
  roles: string[];
  email: string;
}

export interface Idp {
  issuer: string;
  jwksUri: string;
  app: Hono;
  /** issues an RFC 9068 access token for `user` to `clientId`, audience `resource` */
  issue(user: DemoUser, o: { resource: string; clientId: string; ttlSeconds?: number }): Promise<string>;
}

export async function createIdp(issuer: string, users: readonly DemoUser[]): Promise<Idp> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const kid = `idp-${crypto.randomUUID().slice(0, 8)}`;
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const jwksUri = `${issuer}/.well-known/jwks.json`;

  const issue: Idp['issue'] = (user, o) =>
    new SignJWT({ scope: user.scope, client_id: o.clientId, roles: user.roles, email: user.email })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid })
      .setIssuer(issuer)
      .setSubject(user.sub)
      .setAudience(o.resource)
      .setIssuedAt()
      .setExpirationTime(`${o.ttlSeconds ?? 600}s`)
      .setJti(crypto.randomUUID())
      .sign(privateKey);

  const app = new Hono();
  app.get('/.well-known/jwks.json', (c) => c.json({ keys: [publicJwk] }));
  app.get('/.well-known/oauth-authorization-server', (c) =>
    c.json({ issuer, token_endpoint: `${issuer}/token`, jwks_uri: jwksUri, grant_types_supported: [DEMO_LOGIN_GRANT], response_types_supported: [] }),
  );
  app.post('/token', async (c) => {
    const form = new URLSearchParams(await c.req.text());
    const user = users.find((u) => u.sub === form.get('username'));
    const resource = form.get('resource');
    const clientId = form.get('client_id');
    if (form.get('grant_type') !== DEMO_LOGIN_GRANT) return c.json({ error: 'unsupported_grant_type' }, 400);
    if (user === undefined || resource === null || clientId === null)
      return c.json({ error: 'invalid_request', error_description: 'username, client_id and resource are required' }, 400);
    const access_token = await issue(user, { resource, clientId });
    return c.json({ access_token, token_type: 'Bearer', expires_in: 600, scope: user.scope }, 200, { 'Cache-Control': 'no-store' });
  });
  return { issuer, jwksUri, app, issue };
}
