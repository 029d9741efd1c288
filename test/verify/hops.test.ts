/**
 * Three hops over real HTTP on loopback: the MCP workload gets a Txn-Token from the TTS (oauth4webapi), calls
 * service A (hono + txnToken); A forwards the token unchanged to B (withTxnToken); B asks the TTS for a replacement
 * with a narrower scope and calls the tickets service C, which authorizes with the embedded engine and the repo's
 * example policies. Plus the hono middleware's answers and the seed case (bob's ticket denied at the tickets service).
 */
import { request as httpRequest } from 'node:http';
import { Hono } from 'hono';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/policy/index.js';
import {
  authorize,
  createVerifier,
  ForbiddenError,
  requireAllowed,
  txnToken,
  verifyRequest,
  withTxnToken,
  type ServiceDecisionEntry,
  type TxnContext,
  type TxnTokenEnv,
  type Verifier,
} from '../../src/verify/index.js';
import { TT_TXN_TOKEN } from '../../src/txn/index.js';
import { TRUST_DOMAIN } from '../helpers/names.js';
import { type RunningService, serveApp } from '../helpers/net.js';
import { o4wExchange } from '../helpers/tts.js';
import { loadEngine, SECRET, startVerifyWorld, type VerifyWorld } from '../helpers/world-verify.js';

interface Seen {
  sub: string;
  txn: string;
  chain: string[];
  scope: string[];
  token: string;
}
const seen = (t: TxnContext): Seen => ({ sub: t.sub, txn: t.txn, chain: [...t.chain], scope: [...t.scope].sort(), token: t.token });

const TICKETS: Record<string, { owner: string; title: string }> = {
  'T-1': { owner: 'alice', title: 'my order never arrived' },
  'T-2': { owner: 'bob', title: "bob's private ticket" },
};
const ORDERS: Record<string, { owner: string }> = { 'O-1': { owner: 'alice' }, 'O-2': { owner: 'bob' } };

let w: VerifyWorld;
let engine: Engine;
let verifiers: Verifier[];
let services: RunningService[];
let a: RunningService;
let c: RunningService;
let orders: RunningService;
const decisions: ServiceDecisionEntry[] = [];

function verifierFor(service: string): Verifier {
  const v = createVerifier({
    trustDomain: TRUST_DOMAIN,
    issuer: w.tts.issuer,
    jwksUri: w.jwksUri,
    store: w.tts.node.store,
    service,
    onDecision: (e) => decisions.push(e),
  });
  verifiers.push(v);
  return v;
}

beforeAll(async () => {
  w = await startVerifyWorld();
  engine = loadEngine();
  verifiers = [];
  services = [];

  // C: the tickets service. Authorizes the concrete action on the concrete ticket (V-12).
  const appC = new Hono<TxnTokenEnv>();
  appC.use('*', txnToken({ verifier: verifierFor('tickets'), scope: 'tickets:read' }));
  appC.get('/tickets/:id', (ctx) => {
    const txn = ctx.var.txn;
    const id = ctx.req.param('id');
    const ticket = TICKETS[id];
    if (ticket === undefined) return ctx.json({ error: 'not_found' }, 404);
    const d = authorize(txn, { kind: 'ticket', id, attr: { owner: ticket.owner } }, 'read', { engine, scope: 'tickets:read' });
    if (!d.allowed) return ctx.json({ error: 'forbidden', policy: d.policy, reason: d.reason, seen: seen(txn) }, 403);
    return ctx.json({ ticket, seen: seen(txn), decision: { policy: d.policy, derivedRoles: d.derivedRoles } });
  });
  c = await serveApp(appC);
  services.push(c);

  // B: replaces the token (narrower scope, B becomes the outermost act) and calls C.
  const appB = new Hono<TxnTokenEnv>();
  appB.use('*', txnToken({ verifier: verifierFor('svc-b') }));
  appB.get('/tickets/:id', async (ctx) => {
    const txn = ctx.var.txn;
    const r = await o4wExchange(w.tts.as, 'orders-svc', oauth.ClientSecretBasic(SECRET), {
      requested_token_type: TT_TXN_TOKEN,
      audience: TRUST_DOMAIN,
      scope: 'tickets:read',
      subject_token: txn.token,
      subject_token_type: TT_TXN_TOKEN,
    });
    if (r.ok === undefined) return ctx.json({ error: 'replacement_failed', detail: r.text }, 502);
    const res = await withTxnToken(fetch, r.ok.access_token)(`${c.url}/tickets/${ctx.req.param('id')}`);
    return ctx.json({ seen: seen(txn), c: { status: res.status, body: await res.json() } });
  });
  const b = await serveApp(appB);
  services.push(b);

  // A: forwards the token unchanged (V-10).
  const appA = new Hono<TxnTokenEnv>();
  appA.use('*', txnToken({ verifier: verifierFor('svc-a'), scope: ['tickets:read'] }));
  appA.get('/tickets/:id', async (ctx) => {
    const res = await withTxnToken(fetch, ctx.var.txn)(`${b.url}/tickets/${ctx.req.param('id')}`, { headers: { accept: 'application/json' } });
    return ctx.json({ seen: seen(ctx.var.txn), b: { status: res.status, body: await res.json() } });
  });
  a = await serveApp(appA);
  services.push(a);

  // The orders service: requireAllowed, a framework-free handler on a Request (verifyRequest).
  const ordersVerifier = verifierFor('orders');
  const appO = new Hono();
  appO.get('/orders/:id', async (ctx) => {
    try {
      const txn = await verifyRequest(ordersVerifier, ctx.req.raw);
      const id = ctx.req.param('id');
      requireAllowed(txn, { kind: 'order', id, attr: { owner: ORDERS[id]?.owner ?? '' } }, 'read', { engine, scope: 'orders:read' });
      return ctx.json({ order: id, sub: txn.sub });
    } catch (e) {
      if (e instanceof ForbiddenError) return ctx.json({ error: e.code, reason: e.message }, e.status);
      const err = e as { code?: string; status?: number };
      return ctx.json({ error: err.code ?? 'error' }, (err.status ?? 500) as 401);
    }
  });
  orders = await serveApp(appO);
  services.push(orders);
});

afterAll(async () => {
  for (const s of services ?? []) await s.close();
  for (const v of verifiers ?? []) await v.close();
  await w?.close();
});

interface HopResponse {
  seen: Seen;
  b: { status: number; body: { seen: Seen; c: { status: number; body: { ticket?: unknown; seen: Seen; error?: string; policy?: string; decision?: { policy: string; derivedRoles: string[] } } } } };
}

describe('three hops: MCP workload → A → B → (replacement) → C', () => {
  it('keeps sub and txn, grows the chain by one at the replacement, never widens the scope; C sees the whole chain', async () => {
    const token = await w.exchange({ scope: 'tickets:read orders:read' });
    const res = await fetch(`${a.url}/tickets/T-1`, { headers: { 'Txn-Token': token } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as HopResponse;
    const atA = body.seen;
    const atB = body.b.body.seen;
    expect(body.b.status).toBe(200);
    const cBody = body.b.body.c.body;
    expect(body.b.body.c.status, JSON.stringify(cBody)).toBe(200);
    const atC = cBody.seen;

    expect(atA.sub).toBe('alice');
    expect(atA.chain).toEqual(['mcp-support-agent']);
    expect(atA.scope).toEqual(['orders:read', 'tickets:read']);
    // A → B: propagated unmodified (V-10)
    expect(atB.token).toBe(token);
    expect(atB).toEqual(atA);
    // B → C: replacement
    for (const s of [atB, atC]) {
      expect(s.sub).toBe(atA.sub);
      expect(s.txn).toBe(atA.txn);
    }
    expect(atC.token).not.toBe(token);
    expect(atC.chain).toEqual(['orders-svc', 'mcp-support-agent']);
    expect(atC.chain.slice(1)).toEqual(atB.chain);
    expect(atC.scope).toEqual(['tickets:read']);
    for (const s of atC.scope) expect(atB.scope).toContain(s);
    expect(cBody.ticket).toEqual(TICKETS['T-1']);
    expect(cBody.decision).toEqual({ policy: 'resource.ticket.vdefault', derivedRoles: ['owner'] });
  });

  it("seed case: the MCP server asks for bob's ticket on alice's behalf: denied AT THE TICKETS SERVICE", async () => {
    const token = await w.exchange({ scope: 'tickets:read orders:read' });
    const before = decisions.length;
    const res = await fetch(`${a.url}/tickets/T-2`, { headers: { 'Txn-Token': token } });
    const body = (await res.json()) as HopResponse;
    // A and B let it through (they have no business with the ticket); C, which owns tickets, says no.
    expect(body.b.status).toBe(200);
    expect(body.b.body.c.status).toBe(403);
    expect(body.b.body.c.body.error).toBe('forbidden');
    expect(body.b.body.c.body.seen.sub).toBe('alice');
    const denial = decisions.slice(before).find((d) => d.event === 'authorize' && d.hop === 'tickets');
    expect(denial).toMatchObject({
      hop: 'tickets',
      event: 'authorize',
      effect: 'deny',
      sub: 'alice',
      workload: 'orders-svc',
      chain: ['orders-svc', 'mcp-support-agent'],
      action: 'read',
      resource: { kind: 'ticket', id: 'T-2' },
      policy: 'resource.ticket.vdefault',
    });
    expect(JSON.stringify(decisions)).not.toContain(token.split('.')[2]!);
  });

  it("seed case, orders: alice's order is readable through the agent, bob's is not (requireAllowed → 403)", async () => {
    const token = await w.exchange({ scope: 'tickets:read orders:read' });
    const mine = await fetch(`${orders.url}/orders/O-1`, { headers: { 'Txn-Token': token } });
    expect(mine.status).toBe(200);
    expect(await mine.json()).toEqual({ order: 'O-1', sub: 'alice' });
    const bobs = await fetch(`${orders.url}/orders/O-2`, { headers: { 'Txn-Token': token } });
    expect(bobs.status).toBe(403);
    expect(((await bobs.json()) as { error: string }).error).toBe('forbidden');
  });

  it('a support agent acting for alice (role support_agent, acting_for) reads her tickets but not bob’s', async () => {
    const token = await w.forge({ claims: { sub: 'carol', tctx: { roles: ['support_agent'], attr: { acting_for: 'alice' } } } });
    const v = createVerifier({ trustDomain: TRUST_DOMAIN, jwks: w.jwks });
    const t = await v.verify(token);
    expect(authorize(t, { kind: 'ticket', id: 'T-1', attr: { owner: 'alice' } }, 'read', { engine, scope: 'tickets:read' })).toMatchObject({
      allowed: true,
      derivedRoles: ['agent_for_owner'],
    });
    expect(authorize(t, { kind: 'ticket', id: 'T-2', attr: { owner: 'bob' } }, 'read', { engine, scope: 'tickets:read' }).allowed).toBe(false);
    await v.close();
  });

  it('authorize: the token scope must cover the action even when policy would allow it', async () => {
    const token = await w.exchange({ scope: 'orders:read' });
    const v = createVerifier({ trustDomain: TRUST_DOMAIN, jwks: w.jwks });
    const t = await v.verify(token);
    const d = authorize(t, { kind: 'ticket', id: 'T-1', attr: { owner: 'alice' } }, 'read', { engine, scope: 'tickets:read' });
    expect(d).toMatchObject({ allowed: false, effect: 'EFFECT_DENY', policy: 'scope' });
    expect(d.reason).toContain('tickets:read');
    // with the TTS's implications, `tickets` covers `tickets:read`
    const broad = await v.verify(await w.forge({ claims: { scope: 'tickets' } }));
    expect(authorize(broad, { kind: 'ticket', id: 'T-1', attr: { owner: 'alice' } }, 'read', { engine, scope: 'tickets:read' }).allowed).toBe(false);
    expect(
      authorize(broad, { kind: 'ticket', id: 'T-1', attr: { owner: 'alice' } }, 'read', {
        engine,
        scope: 'tickets:read',
        implications: { tickets: ['tickets:read', 'tickets:write'] },
      }).allowed,
    ).toBe(true);
    expect(() => requireAllowed(t, { kind: 'ticket', id: 'T-1', attr: { owner: 'alice' } }, 'read', { engine, scope: 'tickets:read' })).toThrow(ForbiddenError);
    // a token scope named like an Object.prototype member implies nothing (it once threw a TypeError here)
    const odd = await v.verify(await w.forge({ claims: { scope: 'constructor __proto__' } }));
    expect(authorize(odd, { kind: 'ticket', id: 'T-1', attr: { owner: 'alice' } }, 'read', { engine, scope: 'tickets:read', implications: { tickets: ['tickets:read'] } })).toMatchObject({ allowed: false, policy: 'scope' });
    await v.close();
  });

  it('authorize: an engine error denies (fail closed) and explain returns a trace', async () => {
    const v = createVerifier({ trustDomain: TRUST_DOMAIN, jwks: w.jwks });
    const t = await v.verify(await w.exchange());
    const broken = { check: () => { throw new Error('boom'); } } as unknown as Engine;
    expect(authorize(t, { kind: 'ticket', id: 'T-1', attr: { owner: 'alice' } }, 'read', { engine: broken })).toMatchObject({ allowed: false, policy: 'error' });
    const d = authorize(t, { kind: 'ticket', id: 'T-1', attr: { owner: 'alice' } }, 'read', { engine, explain: true });
    expect(d.allowed).toBe(true);
    expect(d.rule).toBe('resource.ticket.vdefault#owner-reads-and-comments');
    expect(d.explanation?.lines.some((l) => l.includes('owner'))).toBe(true);
    await v.close();
  });

  it('refund through the agent chain is denied by policy even with a token that carries orders:refund', async () => {
    const v = createVerifier({ trustDomain: TRUST_DOMAIN, jwks: w.jwks });
    const t = await v.verify(
      await w.forge({ claims: { scope: 'orders:refund', sub: 'lead', req_wl: 'orders-svc', act: { sub: 'orders-svc', act: { sub: 'mcp-support-agent' } }, tctx: { roles: ['support_lead'], attr: {} } } }),
    );
    expect(t.principal.attr).toEqual({ workload: 'orders-svc', chain: ['mcp-support-agent'] });
    const d = authorize(t, { kind: 'order', id: 'O-1', attr: { owner: 'alice' } }, 'refund', { engine, scope: 'orders:refund' });
    expect(d).toMatchObject({ allowed: false, policy: 'resource.order.vdefault' });
    await v.close();
  });
});

/** GET with raw header lines (Node joins repeated unknown headers with ", "). */
function rawGet(url: string, headers: Record<string, string | string[]>): Promise<{ status: number; wwwAuth: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'GET', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, wwwAuth: res.headers['www-authenticate'], body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('hono middleware txnToken over HTTP', () => {
  it('401 missing: no Txn-Token header', async () => {
    const r = await rawGet(`${c.url}/tickets/T-1`, {});
    expect(r.status).toBe(401);
    expect(r.wwwAuth).toBe('Txn-Token error="missing"');
    expect(JSON.parse(r.body)).toMatchObject({ error: 'missing' });
    expect(decisions.at(-1)).toMatchObject({ hop: 'tickets', event: 'verify', error: 'missing', reason_code: 'header.missing' });
    expect(r.body).not.toContain('header.missing');
  });
  it('401 missing: the token only in Authorization (Bearer) is never read', async () => {
    const token = await w.exchange();
    const r = await rawGet(`${c.url}/tickets/T-1`, { Authorization: `Bearer ${token}` });
    expect(r.status).toBe(401);
    expect(r.wwwAuth).toBe('Txn-Token error="missing"');
    expect(decisions.at(-1)).toMatchObject({ error: 'missing', reason_code: 'header.missing' });
    expect(r.body).not.toContain(token.split('.')[2]!);
  });
  it('401 multiple: two Txn-Token header lines', async () => {
    const token = await w.exchange();
    const r = await rawGet(`${c.url}/tickets/T-1`, { 'Txn-Token': [token, token] });
    expect(r.status).toBe(401);
    expect(r.wwwAuth).toBe('Txn-Token error="multiple"');
    expect(decisions.at(-1)).toMatchObject({ error: 'multiple', reason_code: 'header.multiple' });
  });
  it('401 malformed: Bearer prefix in Txn-Token', async () => {
    const r = await rawGet(`${c.url}/tickets/T-1`, { 'Txn-Token': `Bearer ${await w.exchange()}` });
    expect(r.status).toBe(401);
    expect(r.wwwAuth).toBe('Txn-Token error="malformed"');
    expect(decisions.at(-1)).toMatchObject({ error: 'malformed', reason_code: 'header.bearer' });
  });
  it('401 expired, with the code in WWW-Authenticate and nothing of the token in the body', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await w.forge({ claims: { iat: now - 600, exp: now - 120 } });
    const r = await rawGet(`${c.url}/tickets/T-1`, { 'Txn-Token': token });
    expect(r.status).toBe(401);
    expect(r.wwwAuth).toBe('Txn-Token error="expired"');
    expect(decisions.at(-1)).toMatchObject({ error: 'expired', reason_code: 'expired' });
    expect(r.body).not.toContain(token.split('.')[1]!);
  });
  it('403 insufficient_scope: the token does not carry the scope the route needs', async () => {
    const r = await rawGet(`${c.url}/tickets/T-1`, { 'Txn-Token': await w.exchange({ scope: 'orders:read' }) });
    expect(r.status).toBe(403);
    expect(r.wwwAuth).toBe('Txn-Token error="insufficient_scope", scope="tickets:read"');
    expect(JSON.parse(r.body)).toMatchObject({ error: 'insufficient_scope' });
  });
  it('503 unavailable: the revocation store is down (fail closed)', async () => {
    const { createStore } = await import('../../src/store/from-url.node.js');
    const dead = createStore({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 200, commandTimeoutMs: 200 });
    const logged: ServiceDecisionEntry[] = [];
    const v = createVerifier({ trustDomain: TRUST_DOMAIN, jwks: w.jwks, store: dead, onDecision: (e) => logged.push(e) });
    const app = new Hono<TxnTokenEnv>();
    app.use('*', txnToken({ verifier: v }));
    app.get('/', (ctx) => ctx.text(ctx.var.txn.sub));
    const s = await serveApp(app);
    try {
      const r = await rawGet(`${s.url}/`, { 'Txn-Token': await w.exchange() });
      expect(r.status).toBe(503);
      expect(r.wwwAuth).toBe('Txn-Token error="unavailable"');
      expect(logged.at(-1)).toMatchObject({ error: 'unavailable', reason_code: 'revocation_unavailable' });
    } finally {
      await s.close();
      await v.close();
      await dead.close();
    }
  });
});

describe('withTxnToken (V-10)', () => {
  it('sets exactly one Txn-Token header, the exact value received, and never Authorization', async () => {
    const token = await w.exchange();
    let got: Headers | undefined;
    const f = withTxnToken(async (input: RequestInfo | URL, init?: RequestInit) => {
      got = new Request(input, init).headers;
      return new Response('ok');
    }, token);
    await f('http://127.0.0.1:9/x', { headers: { 'Txn-Token': 'stale', accept: 'application/json' } });
    expect(got?.get('txn-token')).toBe(token);
    expect(got?.get('authorization')).toBeNull();
    expect(got?.get('accept')).toBe('application/json');
    await f(new Request('http://127.0.0.1:9/y', { headers: { 'x-keep': '1' } }));
    expect(got?.get('txn-token')).toBe(token);
    expect(got?.get('x-keep')).toBe('1');
  });
});
