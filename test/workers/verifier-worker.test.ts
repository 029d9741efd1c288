// The example verifier Worker (examples/verifier-worker) inside workerd, against the TTS Worker: a Txn-Token minted by
// the TTS is accepted and authorized with the bundled policy, and refused once its transaction is revoked at the TTS
// (the revocation is read from the same Durable Object).
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import committed from '../../policies.bundle.json';
import { createOrdersWorker, type OrdersEnv } from '../../examples/verifier-worker/src/index.js';
import { claimsOf } from '../helpers/jwt.js';
import { basic } from '../helpers/names.js';
import { agentAssertion, BASE, exchangeForm, post, userToken } from '../helpers/workers.js';

async function ordersEnv(): Promise<OrdersEnv> {
  const jwks = await (await SELF.fetch(`${BASE}/.well-known/jwks.json`)).text();
  return { BATON_TRUST_DOMAIN: 'support.example', BATON_ISSUER: env.TEST_ISSUER, BATON_JWKS: jwks, BATON_STORE_DO: env.BATON_STORE_DO };
}

async function txnToken(sub = 'alice', roles = ['user'], scope = 'orders:read'): Promise<string> {
  const res = await post('/token', await exchangeForm({ scope }, { subject: await userToken({ sub, roles }) }));
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

const get = (w: ReturnType<typeof createOrdersWorker>, e: OrdersEnv, path: string, token?: string) =>
  w.fetch(new Request(`https://orders.test${path}`, { headers: token === undefined ? {} : { 'Txn-Token': token } }), e);

describe('example verifier Worker', () => {
  it('accepts a Txn-Token, authorizes with the bundled policy, and refuses it once the transaction is revoked', async () => {
    const w = createOrdersWorker(committed);
    const e = await ordersEnv();
    const token = await txnToken();

    const ok = await get(w, e, '/orders/O-1', token);
    expect(ok.status, await ok.clone().text()).toBe(200);
    expect(await ok.json()).toMatchObject({ order: { id: 'O-1', owner: 'alice' }, actor: 'mcp-support-agent', txn: claimsOf(token).txn });

    // the policy: alice does not own O-2
    const other = await get(w, e, '/orders/O-2', token);
    expect(other.status).toBe(403);

    // revoke the whole transaction at the TTS, by txn id, as a workload allowed to
    const rv = await post('/revoke', { txn: claimsOf(token).txn as string }, { authorization: basic('orders-service', env.TEST_ORDERS_SECRET) });
    expect(rv.status).toBe(200);

    const refused = await get(w, e, '/orders/O-1', token);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toBe('Txn-Token error="revoked"');
    expect(((await refused.json()) as { error: string }).error).toBe('revoked');

    // another transaction of the same user is unaffected
    const fresh = await get(w, e, '/orders/O-1', await txnToken());
    expect(fresh.status).toBe(200);
  });

  it('refuses a missing token and a refund through the AI agent', async () => {
    const w = createOrdersWorker(committed);
    const e = await ordersEnv();
    const missing = await get(w, e, '/orders/O-1');
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Txn-Token error="missing"');
    // a support lead through the agent: the TTS policy already drops orders:refund, so the scope check refuses
    const lead = await txnToken('dave', ['support_lead'], 'orders:read orders:refund');
    const refund = await w.fetch(new Request('https://orders.test/orders/O-1/refund', { method: 'POST', headers: { 'Txn-Token': lead } }), e);
    expect(refund.status).toBe(403);
    const lr = await get(w, e, '/orders/O-2', lead); // leads read every order
    expect(lr.status).toBe(200);
  });

  it('answers 503 naming the field when misconfigured, and refuses to start without a valid bundle', async () => {
    const e = await ordersEnv();
    const noTd = await createOrdersWorker(committed).fetch(new Request('https://orders.test/healthz'), { ...e, BATON_TRUST_DOMAIN: undefined });
    expect(noTd.status).toBe(503);
    expect(((await noTd.json()) as { error_description: string }).error_description).toMatch(/BATON_TRUST_DOMAIN/);
    const noBundle = await createOrdersWorker(undefined).fetch(new Request('https://orders.test/healthz'), e);
    expect(noBundle.status).toBe(503);
    expect(((await noBundle.json()) as { error_description: string }).error_description).toMatch(/policy bundle: missing/);
  });

  it('revocation through the store is strongly consistent: a revoke by any client is seen by the next check', async () => {
    const w = createOrdersWorker(committed);
    const e = await ordersEnv();
    const token = await txnToken();
    expect((await get(w, e, '/orders/O-1', token)).status).toBe(200);
    const rv = await post('/revoke', { token, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await agentAssertion() });
    expect(rv.status).toBe(200);
    expect((await get(w, e, '/orders/O-1', token)).status).toBe(401);
  });
});
