/**
 * The OpenAPI 3.1 description of the decision point's routes: served at `/openapi.json` by `baton pdp`, and merged into
 * the TTS's document when the routes are mounted beside it (`pdp.mount`). The request readers of this room are
 * hand-written to give Cerbos's own errors (cerbos-request.ts, authzen-request.ts), so the bodies here are zod schemas
 * of what they accept and answer, turned into JSON Schema (2020-12, the dialect of OpenAPI 3.1) by `z.toJSONSchema`.
 */
import * as z from 'zod';
import { FORWARD_AUTH_PATH } from './forward-auth.js';

const attr = z.record(z.string(), z.unknown());
const principal = z
  .looseObject({ id: z.string().min(1), roles: z.array(z.string()).min(1), policyVersion: z.string().optional(), scope: z.string().optional(), attr: attr.optional() })
  .describe('omit it and send a Txn-Token header: the principal is then the token\'s user, as `authorize` builds it');
const resource = z.looseObject({ kind: z.string().min(1), id: z.string().min(1), policyVersion: z.string().optional(), scope: z.string().optional(), attr: attr.optional() });
const auxData = z.looseObject({ jwt: z.looseObject({ token: z.string(), keySetId: z.string().optional() }).optional() });
const effect = z.enum(['EFFECT_ALLOW', 'EFFECT_DENY']);

const checkRequest = z.looseObject({
  requestId: z.string().optional(),
  principal: principal.optional(),
  resources: z.array(z.looseObject({ resource, actions: z.array(z.string().min(1)).min(1) })).min(1),
  auxData: auxData.optional(),
  includeMeta: z.boolean().optional(),
});
/** Schema validation (pdp.schemaEnforcement warn/reject): one attribute error as Cerbos reports it. */
const validationErrors = z.array(z.looseObject({ path: z.string(), message: z.string(), source: z.enum(['SOURCE_PRINCIPAL', 'SOURCE_RESOURCE']) })).optional();
const checkResponse = z.looseObject({
  requestId: z.string(),
  results: z.array(
    z.looseObject({
      resource: z.looseObject({ id: z.string(), kind: z.string(), policyVersion: z.string().optional(), scope: z.string().optional() }),
      actions: z.record(z.string(), effect),
      validationErrors,
      meta: z.looseObject({ actions: z.record(z.string(), z.looseObject({ matchedPolicy: z.string(), matchedScope: z.string().optional() })), effectiveDerivedRoles: z.array(z.string()).optional() }).optional(),
      outputs: z.array(z.looseObject({ src: z.string(), val: z.unknown() })).optional(),
    }),
  ),
  cerbosCallId: z.string().optional(),
});
const planRequest = z.looseObject({
  requestId: z.string().optional(),
  action: z.string().optional(),
  actions: z.array(z.string()).optional(),
  principal: principal.optional(),
  resource: z.looseObject({ kind: z.string().min(1), policyVersion: z.string().optional(), scope: z.string().optional(), attr: attr.optional() }),
  auxData: auxData.optional(),
  includeMeta: z.boolean().optional(),
});
const planResponse = z.looseObject({
  requestId: z.string(),
  action: z.string().optional(),
  actions: z.array(z.string()).optional(),
  resourceKind: z.string(),
  policyVersion: z.string(),
  filter: z.looseObject({ kind: z.enum(['KIND_ALWAYS_ALLOWED', 'KIND_ALWAYS_DENIED', 'KIND_CONDITIONAL']), condition: z.unknown().optional() }),
  meta: z.looseObject({ filterDebug: z.string().optional(), matchedScopes: z.record(z.string(), z.string()).optional() }).optional(),
  validationErrors,
  cerbosCallId: z.string().optional(),
});
const cerbosError = z.looseObject({ code: z.number().int(), message: z.string(), details: z.array(z.unknown()).optional() });

const entity = z.looseObject({ type: z.string().min(1), id: z.string().min(1), properties: attr.optional() });
const action = z.looseObject({ name: z.string().min(1), properties: attr.optional() });
const evaluationRequest = z.looseObject({
  subject: entity.optional().describe('omit it and send a Txn-Token header: the subject is the token\'s user'),
  resource: entity,
  action,
  context: attr.optional(),
});
const evaluationResponse = z.looseObject({ decision: z.boolean(), context: attr.optional() });
const evaluationsRequest = z.looseObject({
  subject: entity.optional(),
  resource: entity.optional(),
  action: action.optional(),
  context: attr.optional(),
  evaluations: z.array(z.looseObject({ subject: entity.optional(), resource: entity.optional(), action: action.optional(), context: attr.optional() })).optional(),
  options: z.looseObject({ evaluations_semantic: z.enum(['execute_all', 'deny_on_first_deny', 'permit_on_first_permit']).optional() }).optional(),
});
const evaluationsResponse = z.looseObject({ evaluations: z.array(evaluationResponse) });
const searchRequest = z.looseObject({ subject: entity.partial().optional(), resource: entity.partial().optional(), action: action.optional(), context: attr.optional(), page: z.looseObject({ token: z.string().optional() }).optional() });
const searchResponse = z.looseObject({ results: z.array(z.union([entity, action])), page: z.looseObject({ next_token: z.string() }).optional(), context: attr.optional() });
const authzenConfiguration = z.looseObject({
  policy_decision_point: z.string().describe('the URL this document was fetched from'),
  access_evaluation_endpoint: z.string(),
  access_evaluations_endpoint: z.string(),
  search_subject_endpoint: z.string(),
  search_resource_endpoint: z.string(),
  search_action_endpoint: z.string(),
});

/** The JSON Schema of a zod schema, as OpenAPI 3.1 embeds it (its own `$schema` and `id` dropped). */
function schemaOf(s: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _s, id: _id, ...rest } = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const jsonBody = (name: string) => ({ required: true, content: { 'application/json': { schema: ref(name) } } });
const jsonAnswer = (name: string, description: string) => ({ description, content: { 'application/json': { schema: ref(name) } } });
const txnHeader = { name: 'Txn-Token', in: 'header', required: false, schema: { type: 'string' }, description: 'decide for the verified token\'s user instead of a principal/subject in the body (its scope must cover each action)' };
const refusedToken = { description: 'the Txn-Token was refused', headers: { 'WWW-Authenticate': { schema: { type: 'string' }, description: 'Txn-Token error="…"' } } };

function paths(): Record<string, unknown> {
  const cerbos = (summary: string, req: string, res: string) => ({
    post: { summary, parameters: [txnHeader], requestBody: jsonBody(req), responses: { '200': jsonAnswer(res, 'the decisions'), '400': jsonAnswer('CerbosError', 'a bad request, as Cerbos answers it'), '401': refusedToken } },
  });
  const authzen = (summary: string, req: string, res: string) => ({
    post: { summary, parameters: [txnHeader], requestBody: jsonBody(req), responses: { '200': jsonAnswer(res, 'the answer'), '400': jsonAnswer('CerbosError', 'a bad request'), '401': refusedToken } },
  });
  const forward = {
    summary: 'Forward auth for Envoy ext_authz (HTTP), nginx auth_request, Traefik forwardAuth and Caddy forward_auth: the original request is matched against the route table and decided for the Txn-Token\'s user',
    parameters: [
      { ...txnHeader, description: 'the Txn-Token of the original request' },
      ...['X-Original-Method', 'X-Original-URI', 'X-Forwarded-Method', 'X-Forwarded-Uri'].map((name) => ({ name, in: 'header', required: false, schema: { type: 'string' }, description: 'the original request, as the proxy sends it' })),
    ],
    responses: {
      '200': { description: 'allowed', headers: { 'X-Baton-Sub': { schema: { type: 'string' } }, 'X-Baton-Txn': { schema: { type: 'string' } } } },
      '401': refusedToken,
      '403': { description: 'denied by the policy, the token\'s scope, or no matching route' },
    },
  };
  return {
    '/api/check/resources': cerbos('Cerbos CheckResources (wire-compatible with Cerbos 0.55)', 'CheckResourcesRequest', 'CheckResourcesResponse'),
    '/api/plan/resources': cerbos('Cerbos PlanResources: a query plan', 'PlanResourcesRequest', 'PlanResourcesResponse'),
    '/_cerbos/health': { get: { summary: 'Cerbos health', responses: { '200': { description: 'serving', content: { 'application/json': { schema: { type: 'object', properties: { status: { type: 'string' } } } } } } } } },
    '/api/server_info': { get: { summary: 'Cerbos server info', responses: { '200': { description: 'version and build', content: { 'application/json': { schema: { type: 'object' } } } } } } },
    '/access/v1/evaluation': authzen('AuthZEN 1.0 access evaluation', 'AuthZenEvaluationRequest', 'AuthZenEvaluationResponse'),
    '/access/v1/evaluations': authzen('AuthZEN 1.0 access evaluations (execute_all, deny_on_first_deny, permit_on_first_permit)', 'AuthZenEvaluationsRequest', 'AuthZenEvaluationsResponse'),
    '/access/v1/search/subject': authzen('AuthZEN 1.0 subject search', 'AuthZenSearchRequest', 'AuthZenSearchResponse'),
    '/access/v1/search/resource': authzen('AuthZEN 1.0 resource search (through the query planner)', 'AuthZenSearchRequest', 'AuthZenSearchResponse'),
    '/access/v1/search/action': authzen('AuthZEN 1.0 action search', 'AuthZenSearchRequest', 'AuthZenSearchResponse'),
    '/.well-known/authzen-configuration': { get: { summary: 'AuthZEN 1.0 metadata', responses: { '200': jsonAnswer('AuthZenConfiguration', 'the endpoints') } } },
    [FORWARD_AUTH_PATH]: { get: forward, post: { ...forward, summary: 'Forward auth (any method; the original method is in the headers)' } },
  };
}

/** The decision point's paths and component schemas, for a document of its own or the TTS's. */
export function pdpOpenApi(): { paths: Record<string, unknown>; schemas: Record<string, unknown> } {
  return {
    paths: paths(),
    schemas: {
      CheckResourcesRequest: schemaOf(checkRequest, 'input'),
      CheckResourcesResponse: schemaOf(checkResponse, 'output'),
      PlanResourcesRequest: schemaOf(planRequest, 'input'),
      PlanResourcesResponse: schemaOf(planResponse, 'output'),
      CerbosError: schemaOf(cerbosError, 'output'),
      AuthZenEvaluationRequest: schemaOf(evaluationRequest, 'input'),
      AuthZenEvaluationResponse: schemaOf(evaluationResponse, 'output'),
      AuthZenEvaluationsRequest: schemaOf(evaluationsRequest, 'input'),
      AuthZenEvaluationsResponse: schemaOf(evaluationsResponse, 'output'),
      AuthZenSearchRequest: schemaOf(searchRequest, 'input'),
      AuthZenSearchResponse: schemaOf(searchResponse, 'output'),
      AuthZenConfiguration: schemaOf(authzenConfiguration, 'output'),
    },
  };
}

/** The document `baton pdp` serves at `/openapi.json`. */
export function pdpOpenApiDocument(version = '0.1.0'): Record<string, unknown> {
  const { paths: p, schemas } = pdpOpenApi();
  p['/openapi.json'] = { get: { summary: 'This description', responses: { '200': { description: 'OpenAPI 3.1', content: { 'application/json': { schema: { type: 'object' } } } } } } };
  return { openapi: '3.1.0', info: { title: 'Baton decision point', version }, jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema', paths: p, components: { schemas } };
}
