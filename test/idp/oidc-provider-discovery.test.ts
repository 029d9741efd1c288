// Issue 17: discovery of the subject issuer (OpenID Connect Discovery / RFC 8414) and the introspection client's
// authentication methods and caching, against oidc-provider on loopback.
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizationCodeLogin, revokeAtProvider } from '../../examples/oidc-provider/provider.node.js';
import { claimsOf, headerOf } from '../helpers/jwt.js';
import { expectUnavailable } from '../helpers/tts.js';
import { CHAT, exchangeAs, INTROSPECTOR, MCP_JWT, MCP_OPAQUE, type OidcWorld, providerIssuer, startBaton, startOidcWorld, txnClaims } from '../helpers/world-oidc.js';

const login = (w: OidcWorld, resource: string) =>
  authorizationCodeLogin({ issuer: w.op.issuer, client: CHAT, login: 'alice', scope: 'openid tickets orders', resource });

const WELL_KNOWN = '/.well-known/openid-configuration';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let world: OidcWorld;
beforeAll(async () => {
  world = await startOidcWorld();
});
afterAll(async () => {
  await world?.close();
});

/** A loopback reverse proxy to the provider: same metadata, served under another origin (so another issuer URL). */
async function startProxy(target: string): Promise<{ url: string; close(): Promise<void> }> {
  const t = new URL(target);
  const server: Server = createServer((req, res) => {
    const up = httpRequest({ host: t.hostname, port: t.port, path: req.url, method: req.method, headers: { ...req.headers, host: t.host } }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('discovery of the subject issuer (issuer alone is enough)', () => {
  it('the metadata is fetched once and cached: jwks_uri and introspection_endpoint come from it', async () => {
    const tts = await startBaton(world.op);
    try {
      const before = world.op.requests(WELL_KNOWN);
      const jwt = await login(world, MCP_JWT);
      const opaque = await login(world, MCP_OPAQUE);
      const afterLogins = world.op.requests(WELL_KNOWN); // the logins discover too (oauth4webapi)
      for (let i = 0; i < 3; i++) {
        expect(txnClaims(await exchangeAs(tts, 'mcp-support-agent', jwt.access_token)).sub).toBe('alice');
        expect(txnClaims(await exchangeAs(tts, 'mcp-support-agent', opaque.access_token)).sub).toBe('alice');
      }
      expect(world.op.requests(WELL_KNOWN) - afterLogins).toBe(1);
      expect(afterLogins).toBeGreaterThan(before);
    } finally {
      await tts.close();
    }
  });

  it('refuses metadata that names another issuer: 503, and the token is never introspected there', async () => {
    const proxy = await startProxy(world.op.issuer);
    // Baton is told the issuer is the proxy's URL; the metadata behind it says the provider's issuer
    const tts = await startBaton(world.op, { issuer: { ...providerIssuer(world.op), issuer: proxy.url } });
    try {
      const opaque = await login(world, MCP_OPAQUE);
      const before = world.op.requests('/token/introspection');
      const r = await exchangeAs(tts, 'mcp-support-agent', opaque.access_token);
      expect(expectUnavailable(r, [opaque.access_token])).toBe(
        "the subject issuer cannot be used now: the subject issuer's metadata names another issuer (it must equal the configured issuer exactly)",
      );
      expect(world.op.requests('/token/introspection')).toBe(before);
    } finally {
      await tts.close();
      await proxy.close();
    }
  });

  it('fails closed with 503 while the provider is down, answers at once during the back-off, and recovers', async () => {
    // back-off 3 s after the first failure (retryMinSeconds): wide enough that the checks below fall inside it
    const tts = await startBaton(world.op, { issuer: { ...providerIssuer(world.op), discovery: { retryMinSeconds: 3 } } });
    const jwt = await login(world, MCP_JWT);
    await world.op.pause();
    let resumed = false;
    try {
      const r1 = await exchangeAs(tts, 'mcp-support-agent', jwt.access_token);
      // the back-off starts when the metadata fetch fails, before r1's answer arrives: timing it from the answer (not
      // from the request, which a loaded machine can spend seconds on) keeps the wait below past the back-off
      const failedAt = Date.now();
      expect(expectUnavailable(r1, [jwt.access_token])).toBe("the subject issuer cannot be used now: the subject issuer's metadata cannot be fetched");
      await world.op.resume();
      resumed = true;
      // within the back-off no request is tried, even though the provider is back: the same reason, and when to expect the next
      const wellKnown = world.op.requests(WELL_KNOWN);
      const r2 = await exchangeAs(tts, 'mcp-support-agent', jwt.access_token);
      expect(expectUnavailable(r2, [jwt.access_token])).toMatch(/metadata cannot be fetched; next attempt in [1-3] s$/);
      expect(world.op.requests(WELL_KNOWN)).toBe(wellKnown);
      await sleep(Math.max(0, failedAt + 3_100 - Date.now()));
      expect(txnClaims(await exchangeAs(tts, 'mcp-support-agent', jwt.access_token)).sub).toBe('alice');
      expect(world.op.requests(WELL_KNOWN)).toBe(wellKnown + 1);
    } finally {
      if (!resumed) await world.op.resume();
      await tts.close();
    }
  });

  it('once discovered, JWT exchanges go on while the provider is down; opaque ones fail closed with 503', async () => {
    const tts = await startBaton(world.op);
    const jwt = await login(world, MCP_JWT);
    const opaque = await login(world, MCP_OPAQUE);
    expect(txnClaims(await exchangeAs(tts, 'mcp-support-agent', jwt.access_token)).sub).toBe('alice'); // metadata and keys cached
    await world.op.pause();
    try {
      expect(txnClaims(await exchangeAs(tts, 'mcp-support-agent', jwt.access_token)).sub).toBe('alice');
      const r = await exchangeAs(tts, 'mcp-support-agent', opaque.access_token);
      expect(expectUnavailable(r, [opaque.access_token])).toBe('the subject token cannot be introspected now: the introspection endpoint cannot be reached');
    } finally {
      await world.op.resume();
      await tts.close();
    }
  });
});

describe('introspection client: authentication methods, RFC 9701 JWT answers, caching', () => {
  it('private_key_jwt with RFC 9701 JWT answers (token-introspection+jwt, signed by the provider, checked with its keys)', async () => {
    const tts = await startBaton(world.op, {
      issuer: providerIssuer(world.op, { introspection: { clientId: 'baton-jwt', auth: 'private_key_jwt', secret: undefined, privateJwk: world.introspectorJwk, jwtResponse: true } }),
    });
    try {
      const opaque = await login(world, MCP_OPAQUE);
      const r = await exchangeAs(tts, 'mcp-support-agent', opaque.access_token, 'orders:read');
      expect(txnClaims(r)).toMatchObject({ sub: 'alice', scope: 'orders:read', tctx: { roles: ['user', 'vip'] } });
      expect(r.ok?.access_token).toBeDefined();
    } finally {
      await tts.close();
    }
  });

  it('client_secret_post works; a wrong secret is the provider 401, which Baton answers 503 without echoing anything', async () => {
    const post = await startBaton(world.op, { issuer: providerIssuer(world.op, { introspection: { clientId: 'baton-post', auth: 'client_secret_post', secret: INTROSPECTOR.post } }) });
    const wrong = await startBaton(world.op, { issuer: providerIssuer(world.op, { introspection: { secret: 'not-the-secret-0123456789' } }) });
    try {
      const opaque = await login(world, MCP_OPAQUE);
      expect(txnClaims(await exchangeAs(post, 'mcp-support-agent', opaque.access_token)).sub).toBe('alice');
      const r = await exchangeAs(wrong, 'mcp-support-agent', opaque.access_token);
      expect(expectUnavailable(r, [opaque.access_token, 'not-the-secret-0123456789'])).toBe('the subject token cannot be introspected now: the introspection endpoint answered HTTP 401');
    } finally {
      await post.close();
      await wrong.close();
    }
  });

  it('caches an active answer (cacheSeconds) and an inactive one (negativeCacheSeconds): one introspection each', async () => {
    const tts = await startBaton(world.op, { issuer: providerIssuer(world.op, { introspection: { cacheSeconds: 30, negativeCacheSeconds: 10 } }) });
    try {
      const opaque = await login(world, MCP_OPAQUE);
      const revoked = await login(world, MCP_OPAQUE);
      await revokeAtProvider(world.op.issuer, CHAT.client_id, CHAT.client_secret, revoked.access_token);
      const before = world.op.requests('/token/introspection');
      for (let i = 0; i < 3; i++) expect(txnClaims(await exchangeAs(tts, 'mcp-support-agent', opaque.access_token)).sub).toBe('alice');
      for (let i = 0; i < 3; i++) {
        const r = await exchangeAs(tts, 'mcp-support-agent', revoked.access_token);
        expect(JSON.parse(r.text).error_description).toBe('subject token is not active (introspection)');
      }
      expect(world.op.requests('/token/introspection') - before).toBe(2);
    } finally {
      await tts.close();
    }
  });

  it('the opaque token is never sent anywhere but the introspection endpoint, and never comes back in an answer', async () => {
    const tts = await startBaton(world.op);
    try {
      const opaque = await login(world, MCP_OPAQUE);
      const r = await exchangeAs(tts, 'mcp-support-agent', opaque.access_token);
      expect(r.text.includes(opaque.access_token)).toBe(false);
      const txn = r.ok!.access_token;
      expect(JSON.stringify([headerOf(txn), claimsOf(txn)]).includes(opaque.access_token)).toBe(false);
      expect(tts.decisions.some((d) => JSON.stringify(d).includes(opaque.access_token))).toBe(false);
    } finally {
      await tts.close();
    }
  });
});
