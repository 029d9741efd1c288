import { Hono, type Context } from 'hono';
import { ASYMMETRIC_ALGS } from '../config/schema.js';
import { OAuthError, parseFormBody, TokenService, toOAuthError, type FormPairs } from '../exchange/index.js';
import { GRANT_TOKEN_EXCHANGE } from '../txn/index.js';
import { readCapped } from '../jose/json-bounds.js';
import type { Observer } from '../ops/observe.js';
import type { ReloadStatus } from '../ops/reload.js';
import { addOpsRoutes, observedRequestIds, requestIds } from './ops-routes.js';
import { addOpenApiRoute, type OpenApiExtra } from './openapi.js';

export const MAX_BODY_BYTES = 64 * 1024;
export { MAX_VERIFIER_CLOCK_TOLERANCE } from '../exchange/revoke.js';

export interface AppOptions {
  service: TokenService;
  /** the caller's address from the connection (never from the body or a spoofable header unless the runtime vouches) */
  remoteAddr?: (c: Context) => string | undefined;
  /**
   * Reads the request body as text, at most MAX_BODY_BYTES (else an OAuthError 413). Runtimes may supply a faster
   * reader (Node reads the socket stream directly instead of building a Fetch Request); default `c.req.text()`.
   */
  readBody?: (c: Context) => Promise<string>;
  /** the metrics observer (Node: prom-client); none: no `/metrics` */
  observer?: Observer | undefined;
  /** the reload holder's status, shown by `/readyz` */
  reloadStatus?: (() => ReloadStatus) | undefined;
  /** paths served beside the TTS's by the same app (the decision point's, `pdp.mount`), for `/openapi.json` */
  openApiExtra?: OpenApiExtra | undefined;
}

/** What the transport hands the service besides the input: the request id and the trace headers. */
function metaOf(c: Context): { requestId: string; trace: { traceparent?: string | undefined; tracestate?: string | undefined } } {
  return { requestId: c.get('requestId') as string, trace: { traceparent: c.req.header('traceparent'), tracestate: c.req.header('tracestate') } };
}

export const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

function renderError(c: Context, e: OAuthError): Response {
  return c.json(e.toJSON(), e.status as 400, { ...NO_STORE, ...e.headers });
}

export const bodyTooLarge = () => new OAuthError('invalid_request', `request body exceeds ${MAX_BODY_BYTES} bytes`, { reason: 'request.body_too_large', status: 413 });

/** The Fetch-API body reader (Workers, tests): streams and stops at MAX_BODY_BYTES instead of buffering any size. */
export async function readFetchBody(c: Context): Promise<string> {
  const bytes = await readCapped(c.req.raw.body, MAX_BODY_BYTES);
  if (bytes === undefined) throw bodyTooLarge();
  return new TextDecoder().decode(bytes);
}

const FORM_CONTENT_TYPE = /^application\/x-www-form-urlencoded(\s*;.*)?$/i;

/**
 * The form of a token or revocation request, from its `Content-Type` and `Content-Length` headers and a reader of its
 * body: the content type checked, a declared length over the limit refused before anything is read (the readers
 * enforce it while reading too), the body read once. Shared by the hono handlers and Node's fast path.
 */
export async function readFormOf(contentType: string | undefined, contentLength: string | undefined, read: () => Promise<string>): Promise<FormPairs> {
  if (!FORM_CONTENT_TYPE.test(contentType ?? ''))
    throw new OAuthError('invalid_request', 'Content-Type must be application/x-www-form-urlencoded', { reason: 'request.content_type' });
  if (Number(contentLength ?? '0') > MAX_BODY_BYTES) throw bodyTooLarge();
  // the pairs URLSearchParams would give, without building one (parseFormBody)
  return parseFormBody(await read());
}

function readForm(c: Context, readBody: ((c: Context) => Promise<string>) | undefined): Promise<FormPairs> {
  return readFormOf(c.req.header('content-type'), c.req.header('content-length'), () => (readBody ?? readFetchBody)(c));
}

export function endpointBase(service: TokenService): string {
  return (service.config.baseUrl ?? service.config.issuer).replace(/\/+$/, '');
}

/** The TTS as a hono app. Same app on Node and on Workers; handlers only translate HTTP to and from the service. */
export function createApp(o: AppOptions): Hono {
  const { service } = o;
  const app = new Hono();
  const base = endpointBase(service);

  app.onError((err, c) => renderError(c, toOAuthError(err)));
  app.use('*', o.observer !== undefined ? observedRequestIds(o.observer) : requestIds);
  app.notFound((c) => c.json({ error: 'not_found', error_description: 'no such endpoint' }, 404));

  // The handlers only translate HTTP: the form is read by the service (so that a body refused while being read is
  // logged like every refusal), the logic is in src/exchange (exchange.ts, revoke.ts).
  app.post('/token', async (c) => {
    const read = async () => ({ form: await readForm(c, o.readBody), authorization: c.req.header('authorization'), remoteAddr: o.remoteAddr?.(c) });
    return c.json(await service.exchange(read, metaOf(c)), 200, NO_STORE);
  });

  app.post('/revoke', async (c) => {
    await service.revoke(async () => ({ form: await readForm(c, o.readBody), authorization: c.req.header('authorization') }), metaOf(c));
    return c.body(null, 200, NO_STORE);
  });

  app.get('/.well-known/jwks.json', (c) => c.json(service.context.keys.jwks(), 200, { 'Cache-Control': 'public, max-age=300' }));

  const metadata = {
    issuer: service.config.issuer,
    token_endpoint: `${base}/token`,
    jwks_uri: `${base}/.well-known/jwks.json`,
    revocation_endpoint: `${base}/revoke`,
    grant_types_supported: [GRANT_TOKEN_EXCHANGE],
    token_endpoint_auth_methods_supported: ['private_key_jwt', 'client_secret_basic', 'client_secret_post'],
    token_endpoint_auth_signing_alg_values_supported: [...ASYMMETRIC_ALGS],
    revocation_endpoint_auth_methods_supported: ['private_key_jwt', 'client_secret_basic', 'client_secret_post'],
    scopes_supported: [...new Set(service.config.clients.flatMap((cl) => cl.scopes))].sort(),
  };
  app.get('/.well-known/oauth-authorization-server', (c) => c.json(metadata, 200, { 'Cache-Control': 'public, max-age=300' }));

  addOpsRoutes(app, { service, observer: o.observer, reloadStatus: o.reloadStatus });
  addOpenApiRoute(app, o.openApiExtra);

  return app;
}
