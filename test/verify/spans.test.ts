/**
 * What the verifier and authorize tell an operator's tracing (issue 16), with the SDK's in-memory exporter registered:
 * the `baton.verify` span of an accepted token (txn, workload, allow; the subject only when configured) and of a
 * refusal (deny, the error code and the reason code), the `baton.authorize` span (txn, workload, action, resource
 * kind, decision, policy), and the decision entries carrying the span's trace id. Found by mutation testing
 * (docs/mutation.md): no fast test registered an SDK.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { importJWK, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { generateSigningJwk, toPublicJwk } from '../../src/jose/keys.js';
import { createEngine, type Engine } from '../../src/policy/index.js';
import { configureTracing } from '../../src/trace/index.js';
import { Hono } from 'hono';
import { authorize, createVerifier, txnToken, type ServiceDecisionEntry, type TxnTokenEnv, type Verifier } from '../../src/verify/index.js';
import { TRUST_DOMAIN } from '../helpers/names.js';

const T0 = 1_800_000_000;
const exporter = new InMemorySpanExporter();
let signing: JWK;
let verifier: Verifier;
let engine: Engine;
const logged: ServiceDecisionEntry[] = [];

async function token(exp = T0 + 300): Promise<string> {
  return new SignJWT({ txn: 'txn-1', scope: 'docs:read', req_wl: 'mcp', act: { sub: 'mcp' } })
    .setProtectedHeader({ alg: 'EdDSA', kid: signing.kid!, typ: 'txntoken+jwt' })
    .setSubject('alice').setAudience(TRUST_DOMAIN).setIssuedAt(T0).setExpirationTime(exp)
    .sign(await importJWK(signing, 'EdDSA'));
}

beforeAll(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  signing = await generateSigningJwk('EdDSA');
  verifier = createVerifier({ trustDomain: TRUST_DOMAIN, jwks: { keys: [toPublicJwk(signing)] }, service: 'docs', onDecision: (e) => logged.push(e), now: () => T0 * 1000 });
  engine = createEngine({
    policies: [{ name: 'doc.json', content: JSON.stringify({ apiVersion: 'api.cerbos.dev/v1', resourcePolicy: { resource: 'doc', version: 'default', rules: [{ actions: ['read'], effect: 'EFFECT_ALLOW', roles: ['user'] }] } }) }],
  });
});
afterAll(async () => {
  await verifier?.close();
  trace.disable();
  context.disable();
  propagation.disable();
  configureTracing({ includeSub: false });
});
beforeEach(() => {
  exporter.reset();
  logged.length = 0;
});

const spans = (name: string) => exporter.getFinishedSpans().filter((s) => s.name === name);

describe('spans of the verifier and of authorize', () => {
  it('an accepted token: baton.verify with txn, workload and allow; the subject only with includeSub', async () => {
    await verifier.verify(await token());
    expect(spans('baton.verify')).toHaveLength(1);
    const attrs = spans('baton.verify')[0]!.attributes;
    expect(attrs).toMatchObject({ 'baton.txn': 'txn-1', 'baton.workload': 'mcp', 'baton.decision': 'allow' });
    expect(attrs).not.toHaveProperty('baton.sub');
    configureTracing({ includeSub: true });
    try {
      exporter.reset();
      await verifier.verify(await token()); // the cached context: the same attributes
      expect(spans('baton.verify')[0]!.attributes).toMatchObject({ 'baton.txn': 'txn-1', 'baton.decision': 'allow', 'baton.sub': 'alice' });
    } finally {
      configureTracing({ includeSub: false });
    }
  });

  it('a refused token: baton.verify with deny, the error code and the reason code; its decision entry carries the trace id', async () => {
    await expect(verifier.verify(await token(T0 - 120))).rejects.toMatchObject({ code: 'expired' });
    const [span] = spans('baton.verify');
    expect(span!.attributes).toMatchObject({ 'baton.decision': 'deny', 'baton.error': 'expired', 'baton.reason_code': 'expired' });
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ event: 'verify', effect: 'deny', error: 'expired', reason_code: 'expired', trace_id: span!.spanContext().traceId });
  });

  it('authorize: baton.authorize with who, what and the decision; its decision entry carries the trace id', async () => {
    const txn = await verifier.verify(await token());
    logged.length = 0;
    authorize(txn, { kind: 'doc', id: 'D-1' }, 'read', { engine });
    authorize(txn, { kind: 'doc', id: 'D-1' }, 'delete', { engine });
    const [allow, deny] = spans('baton.authorize');
    expect(allow!.attributes).toMatchObject({ 'baton.txn': 'txn-1', 'baton.workload': 'mcp', 'baton.action': 'read', 'baton.resource.kind': 'doc', 'baton.decision': 'allow', 'baton.policy': 'resource.doc.vdefault' });
    expect(allow!.attributes).not.toHaveProperty('baton.sub');
    expect(deny!.attributes).toMatchObject({ 'baton.action': 'delete', 'baton.decision': 'deny', 'baton.policy': 'resource.doc.vdefault' });
    expect(logged.map((e) => [e.effect, e.trace_id])).toEqual([
      ['allow', allow!.spanContext().traceId],
      ['deny', deny!.spanContext().traceId],
    ]);
  });

  it('the hono middleware: each request in a baton.service.request span (its method) continuing the caller\'s traceparent', async () => {
    const app = new Hono<TxnTokenEnv>();
    app.use('*', txnToken({ verifier }));
    app.post('/', (c) => c.text(c.var.txn.txn));
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const r = await app.request('/', { method: 'POST', headers: { 'Txn-Token': await token(), traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
    expect(await r.text()).toBe('txn-1');
    const [req] = spans('baton.service.request');
    expect(req!.attributes).toMatchObject({ 'http.request.method': 'POST' });
    expect(req!.spanContext().traceId).toBe(traceId);
    expect(spans('baton.verify')[0]!.spanContext().traceId).toBe(traceId); // the verification inside it
  });
});
