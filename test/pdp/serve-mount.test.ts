// The decision point mounted in `baton serve` (`pdp.mount: true`): the TTS's own keys verify the Txn-Tokens it mints,
// its trust domain and implications apply; forward auth with each proxy's way of naming the original request
// (Envoy ext_authz's path prefix, Traefik's and Caddy's X-Forwarded-Method/-Uri, nginx's X-Original-*). And a reload
// of `baton pdp`'s policies swaps them at once for the next request.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRUST_DOMAIN } from '../helpers/names.js';
import { startTestPdp, supportDeskPdp } from '../helpers/pdp.js';
import { POLICY_DIR, startVerifyWorld, type VerifyWorld } from '../helpers/world-verify.js';

describe('pdp.mount: true in baton serve', () => {
  let world: VerifyWorld;
  beforeAll(async () => {
    const { scopes, routes } = supportDeskPdp({ trustDomain: TRUST_DOMAIN, issuer: '', jwks: { keys: [] } });
    world = await startVerifyWorld({ pdp: { mount: true, scopes, routes } as never });
  });
  afterAll(async () => world?.close());

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(world.tts.url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  it('the TTS answers the Cerbos API and AuthZEN, its own Txn-Tokens as principals; the TTS routes still work', async () => {
    const token = await world.exchange({ scope: 'tickets:read' });
    const r = await post('/api/check/resources', { resources: [{ resource: { kind: 'ticket', id: 't1', attr: { owner: 'alice' } }, actions: ['read', 'comment'] }] }, { 'txn-token': token });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { results: { actions: unknown }[] }).results[0]!.actions).toEqual({ read: 'EFFECT_ALLOW', comment: 'EFFECT_DENY' });
    const entry = world.tts.decisions.find((d) => (d.event as string) === 'check');
    expect(entry).toMatchObject({ hop: 'pdp', api: 'cerbos', effect: 'partial', sub: 'alice' });
    const az = await post('/access/v1/evaluation', { resource: { type: 'ticket', id: 't1', properties: { owner: 'alice' } }, action: { name: 'read' } }, { 'txn-token': token });
    expect(await az.json()).toEqual({ decision: true });
    expect((await fetch(`${world.tts.url}/.well-known/oauth-authorization-server`)).status).toBe(200);
    expect((await fetch(`${world.tts.url}/nope`)).status).toBe(404);
  });

  it('forward auth: Envoy (path prefix), Traefik/Caddy (X-Forwarded-*), nginx (X-Original-*) name the same request', async () => {
    const token = await world.exchange({ scope: 'tickets:read' });
    const asks: [string, RequestInit][] = [
      ['/forward-auth/users/alice/tickets/t1', { method: 'GET', headers: { 'txn-token': token } }],
      ['/forward-auth', { headers: { 'txn-token': token, 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/users/alice/tickets/t1?x=1', 'x-forwarded-host': 'app' } }],
      ['/forward-auth', { headers: { 'txn-token': token, 'x-original-method': 'GET', 'x-original-uri': '/users/alice/tickets/t1' } }],
    ];
    for (const [path, init] of asks) {
      const r = await fetch(world.tts.url + path, init);
      expect(r.status, path).toBe(200);
      expect(r.headers.get('x-baton-sub')).toBe('alice');
    }
    const other = await fetch(`${world.tts.url}/forward-auth/users/bob/tickets/t1`, { headers: { 'txn-token': token } });
    expect(other.status).toBe(403);
    const post2 = await fetch(`${world.tts.url}/forward-auth`, { headers: { 'txn-token': token, 'x-forwarded-method': 'DELETE', 'x-forwarded-uri': '/users/alice/tickets/t1' } });
    expect(post2.status).toBe(403);
  });
});

describe('baton pdp: a reload swaps the policies for the next request', () => {
  it('a rule changed on disk applies after reload(); a broken directory keeps the current policies', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-pdp-policies-'));
    cpSync(POLICY_DIR, dir, { recursive: true });
    const pdp = await startTestPdp(dir);
    try {
      const ask = async () =>
        ((await pdp.post('/api/check/resources', { principal: { id: 'alice', roles: ['user'] }, resources: [{ resource: { kind: 'ticket', id: 't1', attr: { owner: 'bob' } }, actions: ['create'] }] })).json.results as { actions: Record<string, string> }[])[0]!.actions['create'];
      expect(await ask()).toBe('EFFECT_ALLOW');
      const file = join(dir, 'resources', 'ticket.yaml');
      writeFileSync(file, readFileSync(file, 'utf8').replace('roles: ["user"]', 'roles: ["nobody"]'));
      await pdp.running.reload();
      expect(await ask()).toBe('EFFECT_DENY');
      writeFileSync(file, 'resourcePolicy: [broken');
      await expect(pdp.running.reload()).rejects.toThrow();
      expect(await ask()).toBe('EFFECT_DENY');
    } finally {
      await pdp.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
