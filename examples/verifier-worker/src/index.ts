// An example downstream service on Cloudflare Workers: the support desk's orders service. It receives the Txn-Token
// minted by Baton (header `Txn-Token`), verifies it with `baton/verify` (signature, audience, expiry, revocation through
// the TTS's Durable Object store) and authorizes every action with the SAME embedded policy engine, loaded from the
// policy bundle (`baton policy build policies --out policies.bundle.json`). Workers-safe: no Node API.
//
// Bindings (examples/verifier-worker/wrangler.toml):
//   BATON_TRUST_DOMAIN  [var]  the trust domain the tokens must be for (aud), e.g. "support.example"
//   BATON_ISSUER        [var]  the TTS issuer (iss), e.g. "https://baton-tts.support.example"
//   BATON_JWKS_URI      [var]  the TTS's JWKS URL ... or
//   BATON_JWKS          [var]  its public JWKS inline (JSON)
//   BATON_STORE_DO      [DO]   the TTS's BatonStoreDO namespace (script_name = "baton-tts"): revocations are checked
//                              there, strongly consistent with the TTS's /revoke. Without it, revocation is not checked.
import { Hono } from 'hono';
import bundle from '../../../policies.bundle.json';
import { loadPolicyBundle, type LoadedPolicyBundle } from '../../../src/policy-bundle/index.js';
import { DurableObjectStore, type DurableObjectNamespaceLike } from '../../../src/store/durable-object.js';
import { authorize, createVerifier, txnToken, type TxnTokenEnv, type Verifier } from '../../../src/verify/index.js';

export interface OrdersEnv {
  BATON_TRUST_DOMAIN?: string;
  BATON_ISSUER?: string;
  BATON_JWKS_URI?: string;
  BATON_JWKS?: string;
  BATON_STORE_DO?: DurableObjectNamespaceLike;
}

/** Sample data: the support desk's orders. */
const ORDERS: Record<string, { id: string; owner: string; amount: number; status: string }> = {
  'O-1': { id: 'O-1', owner: 'alice', amount: 42, status: 'paid' },
  'O-2': { id: 'O-2', owner: 'bob', amount: 7, status: 'paid' },
};

class SetupError extends Error {}

async function setup(env: OrdersEnv, policyBundle: unknown): Promise<{ verifier: Verifier; policies: LoadedPolicyBundle }> {
  if (!env.BATON_TRUST_DOMAIN) throw new SetupError('BATON_TRUST_DOMAIN: not set');
  let jwks: { keys: object[] } | undefined;
  if (env.BATON_JWKS !== undefined) {
    try {
      jwks = JSON.parse(env.BATON_JWKS) as { keys: object[] };
    } catch {
      throw new SetupError('BATON_JWKS: not valid JSON');
    }
    if (!Array.isArray(jwks?.keys)) throw new SetupError('BATON_JWKS: must be {"keys":[...]}');
  } else if (!env.BATON_JWKS_URI) throw new SetupError('BATON_JWKS_URI (or BATON_JWKS): not set');
  let policies: LoadedPolicyBundle;
  try {
    policies = await loadPolicyBundle(policyBundle);
  } catch (e) {
    throw new SetupError((e as Error).message);
  }
  const verifier = createVerifier({
    trustDomain: env.BATON_TRUST_DOMAIN,
    issuer: env.BATON_ISSUER,
    ...(jwks !== undefined ? { jwks } : { jwksUri: env.BATON_JWKS_URI }),
    store: env.BATON_STORE_DO === undefined ? undefined : new DurableObjectStore(env.BATON_STORE_DO),
    revocation: 'fail-closed',
    service: 'orders-service',
  });
  return { verifier, policies };
}

function ordersApp(verifier: Verifier, policies: LoadedPolicyBundle): Hono<TxnTokenEnv> {
  const app = new Hono<TxnTokenEnv>();
  app.use('/orders/*', txnToken({ verifier }));

  const decide = (c: { var: TxnTokenEnv['Variables'] }, id: string, action: string, scope: string) => {
    const order = ORDERS[id];
    if (order === undefined) return undefined;
    const d = authorize(c.var.txn, { kind: 'order', id, attr: { owner: order.owner, amount: order.amount } }, action, { engine: policies.engine, scope });
    return { order, d };
  };

  app.get('/orders/:id', (c) => {
    const r = decide(c, c.req.param('id'), 'read', 'orders:read');
    if (r === undefined) return c.json({ error: 'not_found' }, 404);
    if (!r.d.allowed) return c.json({ error: 'forbidden', policy: r.d.policy, reason: r.d.reason }, 403);
    return c.json({ order: r.order, txn: c.var.txn.txn, actor: c.var.txn.actor });
  });

  app.post('/orders/:id/refund', (c) => {
    const r = decide(c, c.req.param('id'), 'refund', 'orders:refund');
    if (r === undefined) return c.json({ error: 'not_found' }, 404);
    if (!r.d.allowed) return c.json({ error: 'forbidden', policy: r.d.policy, reason: r.d.reason }, 403);
    return c.json({ refunded: r.order.id, txn: c.var.txn.txn });
  });

  app.get('/healthz', (c) => c.json({ status: 'ok', policies: policies.hash }));
  return app;
}

/** The Worker over a given policy bundle (tests pass others); built once per isolate, 503 naming the field if not. */
export function createOrdersWorker(policyBundle: unknown): { fetch(request: Request, env: OrdersEnv): Promise<Response> } {
  let built: Promise<Hono<TxnTokenEnv>> | undefined;
  return {
    async fetch(request, env) {
      built ??= setup(env, policyBundle).then(({ verifier, policies }) => ordersApp(verifier, policies));
      let app: Hono<TxnTokenEnv>;
      try {
        app = await built;
      } catch (e) {
        const message = e instanceof SetupError ? e.message : 'unexpected error while starting';
        console.error(`orders-service: ${message}`);
        return Response.json({ error: 'temporarily_unavailable', error_description: `misconfigured: ${message}` }, { status: 503 });
      }
      return app.fetch(request, env);
    },
  };
}

export default createOrdersWorker(bundle);
