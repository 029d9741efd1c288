// issue 16 item 6 for the decision point (issue 14): `baton pdp` serves an OpenAPI 3.1 description of its routes, valid
// for an OpenAPI parser, whose request and response schemas accept what the PDP really takes and answers; mounted
// beside the TTS (`pdp.mount`), the TTS's own /openapi.json lists the PDP's paths too.
import { validate } from '@readme/openapi-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { TRUST_DOMAIN } from '../helpers/names.js';
import { startTestPdp, supportDeskPdp, type TestPdp } from '../helpers/pdp.js';
import { POLICY_DIR, startVerifyWorld, type VerifyWorld } from '../helpers/world-verify.js';

type Doc = { openapi: string; paths: Record<string, unknown>; components: { schemas: Record<string, Record<string, unknown>> } };

const PDP_PATHS = [
  '/.well-known/authzen-configuration',
  '/_cerbos/health',
  '/access/v1/evaluation',
  '/access/v1/evaluations',
  '/access/v1/search/action',
  '/access/v1/search/resource',
  '/access/v1/search/subject',
  '/api/check/resources',
  '/api/plan/resources',
  '/api/server_info',
  '/forward-auth',
];

/** A component schema of the document, as a validator (JSON Schema → zod), with the document's other components resolvable. */
function validatorOf(doc: Doc, name: string): z.ZodType {
  const defs = Object.fromEntries(Object.entries(doc.components.schemas).map(([k, v]) => [k, v]));
  const rewrite = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(rewrite) : v !== null && typeof v === 'object'
      ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === '$ref' && typeof x === 'string' ? x.replace('#/components/schemas/', '#/$defs/') : rewrite(x)]))
      : v;
  return z.fromJSONSchema(rewrite({ ...doc.components.schemas[name], $defs: defs }) as never);
}

describe('issue 16: the decision point described in OpenAPI 3.1 (baton pdp)', () => {
  let pdp: TestPdp;
  beforeAll(async () => {
    pdp = await startTestPdp(POLICY_DIR);
  });
  afterAll(async () => pdp?.close());

  it('issue 16: /openapi.json of baton pdp is valid OpenAPI 3.1 (an OpenAPI parser validates it) and lists every route', async () => {
    const r = await fetch(`${pdp.url}/openapi.json`);
    expect(r.status).toBe(200);
    const doc = (await r.json()) as Doc;
    expect(doc.openapi).toBe('3.1.0');
    const result = await validate(structuredClone(doc) as never);
    expect(result.valid, JSON.stringify(result)).toBe(true);
    expect(Object.keys(doc.paths).sort()).toEqual([...PDP_PATHS, '/openapi.json'].sort());
  });

  it('issue 16: the described request and response schemas take what the PDP really takes and answers, and refuse what it refuses', async () => {
    const doc = (await (await fetch(`${pdp.url}/openapi.json`)).json()) as Doc;
    const check = { requestId: 'r1', principal: { id: 'alice', roles: ['user'] }, resources: [{ resource: { kind: 'ticket', id: 't1', attr: { owner: 'alice' } }, actions: ['read'] }], includeMeta: true };
    expect(validatorOf(doc, 'CheckResourcesRequest').safeParse(check).success).toBe(true);
    const answer = await pdp.post('/api/check/resources', check);
    expect(answer.status).toBe(200);
    expect(validatorOf(doc, 'CheckResourcesResponse').safeParse(answer.json).success, JSON.stringify(answer.json)).toBe(true);
    // no resources: the PDP refuses it, and so does the described schema
    const bad = { principal: { id: 'alice', roles: ['user'] }, resources: [] };
    expect((await pdp.post('/api/check/resources', bad)).status).toBe(400);
    expect(validatorOf(doc, 'CheckResourcesRequest').safeParse(bad).success).toBe(false);
    const evaluation = { subject: { type: 'user', id: 'alice', properties: { roles: ['user'] } }, resource: { type: 'ticket', id: 't1', properties: { owner: 'alice' } }, action: { name: 'read' } };
    expect(validatorOf(doc, 'AuthZenEvaluationRequest').safeParse(evaluation).success).toBe(true);
    const decided = await pdp.post('/access/v1/evaluation', evaluation);
    expect(decided.status).toBe(200);
    expect(validatorOf(doc, 'AuthZenEvaluationResponse').safeParse(decided.json).success).toBe(true);
    expect(validatorOf(doc, 'AuthZenEvaluationRequest').safeParse({ resource: evaluation.resource }).success).toBe(false); // no action
    const config = await (await fetch(`${pdp.url}/.well-known/authzen-configuration`)).json();
    expect(validatorOf(doc, 'AuthZenConfiguration').safeParse(config).success).toBe(true);
  });
});

describe('issue 16: pdp.mount: the TTS\'s /openapi.json lists the decision point\'s routes', () => {
  let world: VerifyWorld;
  beforeAll(async () => {
    const { scopes, routes } = supportDeskPdp({ trustDomain: TRUST_DOMAIN, issuer: '', jwks: { keys: [] } });
    world = await startVerifyWorld({ pdp: { mount: true, scopes, routes } as never });
  });
  afterAll(async () => world?.close());

  it('issue 16: one valid document with the TTS\'s paths and the PDP\'s', async () => {
    const doc = (await (await fetch(`${world.tts.url}/openapi.json`)).json()) as Doc;
    expect((await validate(structuredClone(doc) as never)).valid).toBe(true);
    const paths = Object.keys(doc.paths);
    for (const p of [...PDP_PATHS, '/token', '/revoke', '/.well-known/jwks.json', '/readyz']) expect(paths).toContain(p);
    expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(['TokenRequest', 'CheckResourcesRequest', 'AuthZenEvaluationRequest']));
  });
});
