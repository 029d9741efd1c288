/**
 * Issue 16: OpenTelemetry through @opentelemetry/api only. With the SDK's in-memory exporter registered (what an
 * application does), one transaction across workload → TTS → service A → service B over real HTTP is one trace:
 * the client and `withTxnToken` carry W3C `traceparent`, the TTS and the services continue it; spans for the
 * exchange steps, verification and authorization; `baton.sub` only when configured; `trace_id` in the decision logs.
 * No propagator is registered: Baton's own W3C `traceparent` is what carries the trace.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Hono } from 'hono';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { clientSecret, createTokenExchangeClient } from '../../src/client/index.js';
import { createEngine } from '../../src/policy/index.js';
import { readPolicies } from '../../src/policy/fs.node.js';
import { configureTracing } from '../../src/trace/index.js';
import { authorize, createVerifier, txnToken, withTxnToken, type ServiceDecisionEntry, type TxnTokenEnv } from '../../src/verify/index.js';
import { MCP_AUD, TRUST_DOMAIN } from '../helpers/names.js';
import { serveApp, type RunningService } from '../helpers/net.js';
import { writeScopePolicy } from '../helpers/ops.js';
import { baseConfig, SECRETS } from '../helpers/world-tts.js';
import { startIdp, type TestIdp } from '../helpers/idp.js';
import { makeKey } from '../helpers/jwt.js';
import { startTts, type TestTts } from '../helpers/tts.js';

const exporter = new InMemorySpanExporter();
let idp: TestIdp;
let tts: TestTts;
let a: RunningService;
let b: RunningService;
let dir: string;
const serviceLog: ServiceDecisionEntry[] = [];

beforeAll(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  idp = await startIdp();
  dir = mkdtempSync(join(tmpdir(), 'baton-trace-'));
  writeScopePolicy(dir, ['tickets:read']);
  const engine = createEngine({ policies: readPolicies(dir) });
  const clientKey = await makeKey('EdDSA');
  tts = await startTts({ config: () => baseConfig(idp, clientKey) });
  const verifier = (service: string) => createVerifier({ trustDomain: TRUST_DOMAIN, issuer: tts.issuer, jwksUri: `${tts.url}/.well-known/jwks.json`, service, onDecision: (e) => serviceLog.push(e) });
  const appB = new Hono<TxnTokenEnv>();
  appB.use('*', txnToken({ verifier: verifier('svc-b') }));
  appB.get('/b', (c) => c.json({ allowed: authorize(c.var.txn, { kind: 'txn_token', id: 't1' }, 'tickets:read', { engine }).allowed }));
  b = await serveApp(appB);
  const appA = new Hono<TxnTokenEnv>();
  appA.use('*', txnToken({ verifier: verifier('svc-a') }));
  appA.get('/a', async (c) => {
    const r = await withTxnToken(fetch, c.var.txn)(`${b.url}/b`);
    return c.json({ b: r.status, ...((await r.json()) as object) });
  });
  a = await serveApp(appA);
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await tts?.close();
  await idp?.close();
  rmSync(dir, { recursive: true, force: true });
  trace.disable();
  context.disable();
  propagation.disable();
  configureTracing({ includeSub: false });
});
beforeEach(() => exporter.reset());

async function transaction(): Promise<{ traceId: string; answer: unknown }> {
  const client = createTokenExchangeClient({ issuer: tts.issuer, clientId: 'mcp-support-agent', auth: clientSecret(SECRETS.agent), trustDomain: TRUST_DOMAIN, allowInsecureHttp: true });
  return trace.getTracer('test').startActiveSpan('workload', async (span) => {
    try {
      const t = await client.exchange({ subjectToken: await idp.mint({ claims: { aud: MCP_AUD } }), scope: 'tickets:read' });
      const r = await withTxnToken(fetch, t.token)(`${a.url}/a`);
      return { traceId: span.spanContext().traceId, answer: await r.json() };
    } finally {
      span.end();
    }
  });
}

describe('issue 16: one transaction, one trace', () => {
  it('issue 16: workload → TTS → service A → service B share one trace id; each hop its spans; trace_id in every decision log', async () => {
    const { traceId, answer } = await transaction();
    expect(answer).toEqual({ b: 200, allowed: true });
    const spans = exporter.getFinishedSpans();
    const names = spans.map((s) => s.name);
    for (const n of ['workload', 'baton.exchange', 'baton.exchange.client', 'baton.exchange.subject', 'baton.exchange.scope', 'baton.exchange.mint', 'baton.service.request', 'baton.verify', 'baton.authorize'])
      expect(names, n).toContain(n);
    expect(names.filter((n) => n === 'baton.verify')).toHaveLength(2); // A and B
    expect(spans.every((s) => s.spanContext().traceId === traceId)).toBe(true);
    // the parent chain: B's request span is a child of a span of A, A's of the workload's
    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    const parentName = (s: (typeof spans)[number]) => byId.get(s.parentSpanContext?.spanId ?? '')?.name;
    const requests = spans.filter((s) => s.name === 'baton.service.request');
    expect(requests.map(parentName).sort()).toEqual(['baton.service.request', 'workload']);
    expect(parentName(spans.find((s) => s.name === 'baton.exchange')!)).toBe('workload');
    const exchange = spans.find((s) => s.name === 'baton.exchange')!;
    expect(exchange.attributes).toMatchObject({ 'baton.workload': 'mcp-support-agent', 'baton.decision': 'grant' });
    expect(typeof exchange.attributes['baton.txn']).toBe('string');
    // privacy by default: no subject on any span
    expect(spans.some((s) => 'baton.sub' in s.attributes)).toBe(false);
    // the decision logs carry the trace id: the TTS's grant, the service's authorization
    expect(tts.decisions.at(-1)).toMatchObject({ event: 'exchange', effect: 'grant', trace_id: traceId });
    expect(serviceLog.at(-1)).toMatchObject({ hop: 'svc-b', event: 'authorize', effect: 'allow', trace_id: traceId });
  });

  it('issue 16: baton.sub is put on spans only when configured', async () => {
    configureTracing({ includeSub: true });
    try {
      await transaction();
      const verify = exporter.getFinishedSpans().filter((s) => s.name === 'baton.verify');
      expect(verify.map((s) => s.attributes['baton.sub'])).toEqual(['alice', 'alice']);
    } finally {
      configureTracing({ includeSub: false });
    }
  });

  it('issue 16: a refused token is traced and its decision entry carries the trace id', async () => {
    const traceId = await trace.getTracer('test').startActiveSpan('workload', async (span) => {
      const r = await withTxnToken(fetch, 'not.a.token')(`${a.url}/a`);
      expect(r.status).toBe(401);
      span.end();
      return span.spanContext().traceId;
    });
    const verify = exporter.getFinishedSpans().find((s) => s.name === 'baton.verify')!;
    expect(verify.spanContext().traceId).toBe(traceId);
    expect(verify.attributes).toMatchObject({ 'baton.decision': 'deny' });
    expect(serviceLog.at(-1)).toMatchObject({ hop: 'svc-a', event: 'verify', effect: 'deny', trace_id: traceId });
  });
});
