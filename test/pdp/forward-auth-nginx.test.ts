// Forward auth behind a REAL nginx (Debian's package; auth_request): nginx asks `baton pdp` about every request and
// only lets the allowed ones reach a small upstream, which learns the user and transaction from X-Baton-Sub and
// X-Baton-Txn. Allowed, no token, bad token, wrong scope, denied by policy, unknown route (denied). Outside CI a
// missing nginx skips with a notice; under CI=true the global setup installs it or fails.
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningJwk } from '../../src/jose/keys.js';
import { TRUST_DOMAIN } from '../helpers/names.js';
import { serveApp, type RunningService } from '../helpers/net.js';
import { NGINX_SKIP_REASON, nginxBinary, startNginx, type PrivateNginx } from '../helpers/nginx.js';
import { startTestPdp, supportDeskPdp, type TestPdp } from '../helpers/pdp.js';
import { POLICY_DIR, startVerifyWorld, type VerifyWorld } from '../helpers/world-verify.js';

const bin = nginxBinary();
if (bin === undefined) console.warn(`[forward auth] ${NGINX_SKIP_REASON}: the nginx suite SKIPS`);

describe.skipIf(bin === undefined)('forward auth: nginx auth_request in front of an upstream, baton pdp deciding', () => {
  let world: VerifyWorld;
  let pdp: TestPdp;
  let upstream: RunningService;
  let nginx: PrivateNginx;
  const seen: { path: string; sub: string | undefined; txn: string | undefined }[] = [];
  beforeAll(async () => {
    world = await startVerifyWorld();
    pdp = await startTestPdp(POLICY_DIR, supportDeskPdp({ trustDomain: TRUST_DOMAIN, issuer: world.tts.issuer, jwks: world.jwks }));
    const app = new Hono();
    app.all('*', (c) => {
      seen.push({ path: new URL(c.req.url).pathname, sub: c.req.header('x-baton-sub'), txn: c.req.header('x-baton-txn') });
      return c.json({ upstream: true });
    });
    upstream = await serveApp(app);
    const pdpHost = new URL(pdp.url).host;
    nginx = await startNginx(
      bin!,
      `    location = /_baton_auth {
      internal;
      proxy_pass http://${pdpHost}/forward-auth;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Original-Method $request_method;
    }
    location / {
      auth_request /_baton_auth;
      auth_request_set $baton_sub $upstream_http_x_baton_sub;
      auth_request_set $baton_txn $upstream_http_x_baton_txn;
      proxy_set_header X-Baton-Sub $baton_sub;
      proxy_set_header X-Baton-Txn $baton_txn;
      proxy_set_header Txn-Token $http_txn_token;
      proxy_pass http://${new URL(upstream.url).host};
    }`,
    );
  }, 60_000);
  afterAll(async () => {
    await nginx?.stop();
    await upstream?.close();
    await pdp?.close();
    await world?.close();
  });

  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => fetch(nginx.url + path, { method, headers });
  const txnOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).txn as string;

  it('allowed: the upstream answers and learns the user and the transaction (a client-sent X-Baton-Sub is overwritten)', async () => {
    const token = await world.exchange({ scope: 'tickets:read' });
    const before = seen.length;
    const r = await get('/users/alice/tickets/t1', { 'txn-token': token, 'x-baton-sub': 'mallory' });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ upstream: true });
    expect(seen.slice(before)).toEqual([{ path: '/users/alice/tickets/t1', sub: 'alice', txn: txnOf(token) }]);
    expect(pdp.decisions.at(-1)).toMatchObject({ event: 'authorize', effect: 'allow', txn: txnOf(token), action: 'read', resource: { kind: 'ticket', id: 't1' } });
  });

  it('no token: 401 with WWW-Authenticate: Txn-Token error="missing"; the upstream is not reached', async () => {
    const before = seen.length;
    const r = await get('/users/alice/tickets/t1');
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toBe('Txn-Token error="missing"');
    expect(seen.length).toBe(before);
    expect(pdp.decisions.at(-1)).toMatchObject({ event: 'verify', effect: 'deny', reason_code: 'header.missing' });
  });

  it('bad token (signed by another key): 401 naming the code, the reason in the log only', async () => {
    const forged = await world.forge({ jwk: await generateSigningJwk('EdDSA') });
    const before = seen.length;
    const r = await get('/users/alice/tickets/t1', { 'txn-token': forged });
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toMatch(/^Txn-Token error="[a-z_]+"$/);
    expect(seen.length).toBe(before);
    expect(pdp.decisions.at(-1)).toMatchObject({ event: 'verify', effect: 'deny' });
    expect(JSON.stringify(pdp.decisions)).not.toContain(forged);
  });

  it('wrong scope: 403 (a tickets:read token may not comment), logged with the missing scope', async () => {
    const token = await world.exchange({ scope: 'tickets:read' });
    const before = seen.length;
    const r = await get('/users/alice/tickets/t1/comments', { 'txn-token': token }, 'POST');
    expect(r.status).toBe(403);
    expect(seen.length).toBe(before);
    expect(pdp.decisions.at(-1)).toMatchObject({ event: 'authorize', effect: 'deny', txn: txnOf(token), policy: 'scope', scope: 'tickets:write' });
  });

  it('denied by policy: 403 for bob\'s ticket (alice is not its owner)', async () => {
    const token = await world.exchange({ scope: 'tickets:read' });
    const before = seen.length;
    const r = await get('/users/bob/tickets/t9', { 'txn-token': token });
    expect(r.status).toBe(403);
    expect(seen.length).toBe(before);
    expect(pdp.decisions.at(-1)).toMatchObject({ event: 'authorize', effect: 'deny', txn: txnOf(token), policy: 'resource.ticket.vdefault' });
  });

  it('unknown route: 403 (denied), logged as route.unknown; a dot segment is no route either', async () => {
    const token = await world.exchange({ scope: 'tickets:read' });
    const r = await get('/admin/users', { 'txn-token': token });
    expect(r.status).toBe(403);
    expect(pdp.decisions.at(-1)).toMatchObject({ event: 'forward_auth', effect: 'deny', reason_code: 'route.unknown', txn: txnOf(token) });
    const dots = await get('/users/alice/tickets/%2e%2e', { 'txn-token': token });
    expect(dots.status).toBe(403);
  });
});
