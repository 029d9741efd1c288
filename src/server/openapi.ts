/**
 * The OpenAPI 3.1 description of the TTS, served at `/openapi.json`. The bodies are zod schemas turned into JSON
 * Schema (2020-12, the dialect of OpenAPI 3.1) by zod's own `z.toJSONSchema`. The /token form lists exactly the
 * parameters the request step reads (`KNOWN_PARAMS`, checked by a test), with the values it accepts.
 */
import type { Hono } from 'hono';
import * as z from 'zod';
import { ASYMMETRIC_ALGS } from '../config/schema.js';
import { KNOWN_PARAMS } from '../exchange/index.js';
import { GRANT_TOKEN_EXCHANGE, SUBJECT_TOKEN_TYPES, TT_TXN_TOKEN } from '../txn/index.js';

const clientAuth = {
  client_id: z.string().optional().describe('client_secret_post or private_key_jwt: the workload'),
  client_secret: z.string().optional().describe('client_secret_post'),
  client_assertion: z.string().optional().describe('private_key_jwt: a signed JWT (RFC 7523)'),
  client_assertion_type: z.literal('urn:ietf:params:oauth:client-assertion-type:jwt-bearer').optional(),
};

export const tokenRequestSchema = z
  .object({
    grant_type: z.literal(GRANT_TOKEN_EXCHANGE),
    requested_token_type: z.literal(TT_TXN_TOKEN).optional(),
    audience: z.string().min(1).describe('a trust domain of this TTS'),
    scope: z.string().optional().describe('space-separated scopes; the grant is requested ∩ subject ∩ ceiling ∩ policy'),
    subject_token: z.string().min(1),
    subject_token_type: z.enum(SUBJECT_TOKEN_TYPES),
    request_context: z.string().optional().describe('a JSON object (bounded in bytes and depth)'),
    request_details: z.string().optional().describe('a JSON object (bounded in bytes and depth)'),
    ...clientAuth,
    actor_token: z.string().optional().describe('refused: actor tokens are not accepted'),
    actor_token_type: z.string().optional().describe('refused with actor_token'),
    resource: z.string().optional().describe('refused: use audience'),
  })
  ;

export const tokenResponseSchema = z
  .object({
    access_token: z.string().describe('the Txn-Token'),
    issued_token_type: z.literal(TT_TXN_TOKEN),
    token_type: z.literal('N_A'),
    expires_in: z.number().int().positive(),
    scope: z.string().optional().describe('present when narrower than requested'),
  })
  ;

export const revokeRequestSchema = z
  .object({ token: z.string().optional().describe('a Txn-Token of the transaction'), txn: z.string().max(128).optional().describe('the transaction id (workloads with revokeById)'), ...clientAuth })
  ;

export const oauthErrorSchema = z
  .object({ error: z.string().describe('RFC 6749 §5.2 error code'), error_description: z.string().optional() })
  ;

const jwksSchema = z.object({ keys: z.array(z.looseObject({ kty: z.string(), kid: z.string(), alg: z.string().optional(), use: z.string().optional() })) });

const metadataSchema = z
  .object({
    issuer: z.string(),
    token_endpoint: z.string(),
    jwks_uri: z.string(),
    revocation_endpoint: z.string(),
    grant_types_supported: z.array(z.string()),
    token_endpoint_auth_methods_supported: z.array(z.string()),
    token_endpoint_auth_signing_alg_values_supported: z.array(z.enum(ASYMMETRIC_ALGS)),
    revocation_endpoint_auth_methods_supported: z.array(z.string()),
    scopes_supported: z.array(z.string()),
  })
  ;

const healthSchema = z.looseObject({ status: z.string(), store: z.object({ ok: z.boolean(), backend: z.string(), detail: z.string().optional() }).optional() });
const readySchema = z
  .looseObject({ status: z.enum(['ready', 'not_ready']), reasons: z.array(z.string()).optional(), checks: z.record(z.string(), z.unknown()) })
  ;

/** The JSON Schema of a zod schema, as OpenAPI 3.1 embeds it (its own `$schema` and `id` dropped). */
function schemaOf(s: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _s, id: _id, ...rest } = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

const json = (ref: string, description: string) => ({ description, content: { 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } } });
const oauthError = json('OAuthError', 'refused (RFC 6749 §5.2; 401 for client authentication, 429 over a rate limit, 503 when the store is unavailable)');

function paths(): Record<string, unknown> {
  const form = (ref: string) => ({ required: true, content: { 'application/x-www-form-urlencoded': { schema: { $ref: `#/components/schemas/${ref}` } } } });
  const withId = { parameters: [{ name: 'X-Request-Id', in: 'header', required: false, schema: { type: 'string', maxLength: 128 }, description: 'kept when plain, else created; returned and logged' }] };
  return {
    '/token': { post: { summary: 'Token exchange (RFC 8693) for a Txn-Token', ...withId, requestBody: form('TokenRequest'), responses: { '200': json('TokenResponse', 'a Txn-Token'), '400': oauthError, '401': oauthError, '413': oauthError, '429': oauthError, '503': oauthError } } },
    '/revoke': { post: { summary: 'Revoke a transaction (RFC 7009 style)', ...withId, requestBody: form('RevokeRequest'), responses: { '200': { description: 'revoked, or nothing to revoke' }, '400': oauthError, '401': oauthError, '429': oauthError, '503': oauthError } } },
    '/.well-known/jwks.json': { get: { summary: 'The public signing keys', responses: { '200': json('JWKS', 'the key set') } } },
    '/.well-known/oauth-authorization-server': { get: { summary: 'Authorization server metadata (RFC 8414)', responses: { '200': json('AuthorizationServerMetadata', 'the metadata') } } },
    '/healthz': { get: { summary: 'Health (store probe)', responses: { '200': json('Health', 'healthy'), '503': json('Health', 'store down') } } },
    '/livez': { get: { summary: 'Liveness', responses: { '200': json('Health', 'alive') } } },
    '/readyz': { get: { summary: 'Readiness: keys loaded, policies compiled, store reachable', responses: { '200': json('Readiness', 'ready'), '503': json('Readiness', 'not ready, with the reasons (no host names)') } } },
    '/metrics': { get: { summary: 'Prometheus metrics (Node)', responses: { '200': { description: 'Prometheus text exposition', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
    '/openapi.json': { get: { summary: 'This description', responses: { '200': { description: 'OpenAPI 3.1', content: { 'application/json': { schema: { type: 'object' } } } } } } },
  };
}

/** More paths and schemas served by the same app (the decision point's, when it is mounted beside the TTS). */
export interface OpenApiExtra {
  paths: Record<string, unknown>;
  schemas: Record<string, unknown>;
}

/** Builds the OpenAPI 3.1 document. */
export function openApiDocument(version = '0.1.0', extra?: OpenApiExtra): Record<string, unknown> {
  const schemas: Record<string, unknown> = {
    TokenRequest: schemaOf(tokenRequestSchema, 'input'),
    TokenResponse: schemaOf(tokenResponseSchema, 'output'),
    RevokeRequest: schemaOf(revokeRequestSchema, 'input'),
    OAuthError: schemaOf(oauthErrorSchema, 'output'),
    JWKS: schemaOf(jwksSchema, 'output'),
    AuthorizationServerMetadata: schemaOf(metadataSchema, 'output'),
    Health: schemaOf(healthSchema, 'output'),
    Readiness: schemaOf(readySchema, 'output'),
    ...extra?.schemas,
  };
  return { openapi: '3.1.0', info: { title: 'Baton Transaction Token Service', version }, jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema', paths: { ...paths(), ...extra?.paths }, components: { schemas } };
}

/** The parameters the /token form documents (for the test against `KNOWN_PARAMS`). */
export const documentedTokenParams = (): string[] => Object.keys(tokenRequestSchema.shape).sort();
export const readParams = (): string[] => [...KNOWN_PARAMS].sort();

export function addOpenApiRoute(app: Hono, extra?: OpenApiExtra): void {
  let doc: Record<string, unknown> | undefined;
  app.get('/openapi.json', (c) => c.json((doc ??= openApiDocument(undefined, extra)), 200, { 'Cache-Control': 'public, max-age=300' }));
}
