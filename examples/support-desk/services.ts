// The two downstream services. Each verifies the Txn-Token (baton/verify) and asks the embedded policy engine
// before touching a record. They never see the user's access token: only the Txn-Token, in the Txn-Token header.
import { Hono } from 'hono';
import { planPredicate, type Engine } from '../../src/policy/index.js';
import { authorize, planFor, principalOf, txnToken, type ServiceDecisionEntry, type TxnContext, type TxnTokenEnv, type Verifier } from '../../src/verify/index.js';
import type { Order, Ticket } from './data.js';

export interface ReceivedRequest {
  service: string;
  method: string;
  path: string;
  headers: Record<string, string>;
}

export interface ServiceOptions {
  verifier: Verifier;
  engine: Pick<Engine, 'check' | 'plan'>;
  /** the decision log */
  log: (entry: ServiceDecisionEntry & { rule?: string }) => void;
  /** every request's headers, as received (the test checks none carries the user's access token) */
  received: ReceivedRequest[];
  implications?: Readonly<Record<string, readonly string[]>>;
}

/**
 * `authorize` with the deciding rule added to the log line: the rule FQN from the engine's explanation when a rule
 * decided, `<policy>#default-deny` when the policy has no rule for this principal (Cerbos's implicit deny).
 */
function decide(o: ServiceOptions, txn: TxnContext, resource: { kind: string; id: string; attr: Record<string, unknown> }, action: string, scope: string) {
  let entry: ServiceDecisionEntry | undefined;
  const d = authorize(txn, resource, action, { engine: o.engine, scope, implications: o.implications, explain: true, onDecision: (e) => (entry = e) });
  const rule = d.policy === 'scope' || d.policy === 'error' ? d.policy : d.rule ?? `${d.policy}#${d.allowed ? 'allow' : 'default-deny'}`;
  if (entry !== undefined) o.log({ ...entry, rule });
  return { ...d, rule };
}

function capture(name: string, received: ReceivedRequest[]) {
  return async (c: { req: { method: string; path: string; raw: Request } }, next: () => Promise<void>) => {
    const headers: Record<string, string> = {};
    c.req.raw.headers.forEach((v, k) => (headers[k] = v));
    received.push({ service: name, method: c.req.method, path: c.req.path, headers });
    await next();
  };
}

export function ticketsService(o: ServiceOptions, tickets: Ticket[]): Hono<TxnTokenEnv> {
  const app = new Hono<TxnTokenEnv>();
  app.use('*', capture('tickets', o.received));
  app.use('*', txnToken({ verifier: o.verifier }));
  // "alice's tickets": one query planned by the policy engine (which tickets may this user read through this chain?),
  // run as one filter over the records; no per-record checks, no "owner == sub" written in the service.
  app.get('/tickets', (c) => {
    const txn = c.var.txn;
    const plan = planFor(txn, 'ticket', 'read', {
      engine: o.engine,
      scope: 'tickets:read',
      implications: o.implications,
      onDecision: (e) => o.log({ ...e, ...(e.plan && e.plan.rules.length > 0 ? { rule: e.plan.rules.join(' ') } : {}) }),
    });
    const readable = planPredicate(plan, { principal: principalOf(txn) });
    const visible = tickets.filter((t) => readable({ kind: 'ticket', id: t.id, attr: { owner: t.owner } }));
    return c.json({ tickets: visible.map(({ id, subject, status }) => ({ id, subject, status })) });
  });
  app.get('/tickets/:id', (c) => {
    const txn = c.var.txn;
    const t = tickets.find((x) => x.id === c.req.param('id'));
    if (t === undefined) return c.json({ error: 'not_found', error_description: 'no such ticket' }, 404);
    const d = decide(o, txn, { kind: 'ticket', id: t.id, attr: { owner: t.owner } }, 'read', 'tickets:read');
    if (!d.allowed) return c.json({ error: 'forbidden', error_description: d.reason, policy: d.policy, rule: d.rule }, 403);
    return c.json({ ticket: t });
  });
  return app;
}

export function ordersService(o: ServiceOptions, orders: Order[]): Hono<TxnTokenEnv> {
  const app = new Hono<TxnTokenEnv>();
  app.use('*', capture('orders', o.received));
  app.use('*', txnToken({ verifier: o.verifier }));
  const readable = (txn: TxnContext, x: Order) => decide(o, txn, { kind: 'order', id: x.id, attr: { owner: x.owner } }, 'read', 'orders:read');
  app.get('/orders/latest', (c) => {
    const txn = c.var.txn;
    const latest = orders.filter((x) => x.owner === txn.sub).sort((a, b) => b.placedAt.localeCompare(a.placedAt))[0];
    if (latest === undefined) return c.json({ error: 'not_found', error_description: 'no orders' }, 404);
    const d = readable(txn, latest);
    if (!d.allowed) return c.json({ error: 'forbidden', error_description: d.reason, policy: d.policy, rule: d.rule }, 403);
    return c.json({ order: latest });
  });
  app.get('/orders/:id', (c) => {
    const x = orders.find((y) => y.id === c.req.param('id'));
    if (x === undefined) return c.json({ error: 'not_found', error_description: 'no such order' }, 404);
    const d = readable(c.var.txn, x);
    if (!d.allowed) return c.json({ error: 'forbidden', error_description: d.reason, policy: d.policy, rule: d.rule }, 403);
    return c.json({ order: x });
  });
  app.post('/orders/:id/refund', (c) => {
    const x = orders.find((y) => y.id === c.req.param('id'));
    if (x === undefined) return c.json({ error: 'not_found', error_description: 'no such order' }, 404);
    const d = decide(o, c.var.txn, { kind: 'order', id: x.id, attr: { owner: x.owner } }, 'refund', 'orders:refund');
    if (!d.allowed) return c.json({ error: 'forbidden', error_description: d.reason, policy: d.policy, rule: d.rule }, 403);
    x.status = 'refunded';
    return c.json({ order: x });
  });
  return app;
}
