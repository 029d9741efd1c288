/**
 * The decision point as a hono app (Node and Workers): the handlers only translate HTTP to and from `Pdp` (pdp.ts).
 * Errors are answered as Cerbos answers them (`{ code, message, details }`); a refused Txn-Token is 401 with
 * `WWW-Authenticate: Txn-Token error="…"` (503 when keys or the store cannot answer); never a 5xx for bad input.
 */
import { Hono, type Context } from 'hono';
import { readCapped } from '../jose/json-bounds.js';
import { TxnTokenError } from '../verify/errors.js';
import { CerbosApiError, protoError } from './cerbos-errors.js';
import { FORWARD_AUTH_PATH, originalRequest } from './forward-auth.js';
import { pdpOpenApiDocument } from './openapi.js';
import type { Pdp } from './pdp.js';

/** Cerbos's default limit on a request body. */
export const MAX_PDP_BODY_BYTES = 4 * 1024 * 1024;
export { FORWARD_AUTH_PATH } from './forward-auth.js';
const TXN_HEADER = 'txn-token';

/** Parses a request body as Cerbos's gateway does: an empty body is an empty message; anything else must be JSON. */
export function parseBody(text: string): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch (e) {
    throw protoError(`proto: syntax error: ${(e as Error).message.replace(/"[^"]*"/g, '…').slice(0, 120)}`);
  }
}

/** An error as the decision point answers it: status, headers, body. */
export function errorAnswer(e: unknown): { status: number; headers: Record<string, string>; body: object } {
  if (e instanceof CerbosApiError) return { status: e.status, headers: {}, body: e.toJSON() };
  if (e instanceof TxnTokenError)
    return { status: e.status, headers: { 'WWW-Authenticate': `Txn-Token error="${e.code}"` }, body: { code: e.status === 401 ? 16 : 14, message: e.message } };
  if (typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'PolicyInputError')
    return { status: 400, headers: {}, body: { code: 3, message: (e as Error).message } };
  return { status: 500, headers: {}, body: { code: 13, message: 'internal error' } };
}

async function readJson(c: Context): Promise<unknown> {
  const declared = Number(c.req.header('content-length') ?? '0');
  if (declared > MAX_PDP_BODY_BYTES) throw new CerbosApiError(8, `request body exceeds ${MAX_PDP_BODY_BYTES} bytes`, 'request.body_too_large');
  const bytes = await readCapped(c.req.raw.body, MAX_PDP_BODY_BYTES);
  if (bytes === undefined) throw new CerbosApiError(8, `request body exceeds ${MAX_PDP_BODY_BYTES} bytes`, 'request.body_too_large');
  return parseBody(new TextDecoder().decode(bytes));
}

function answer(c: Context, run: (body: unknown, txnHeader: string | undefined) => Promise<unknown>) {
  return async () => {
    try {
      const body = await readJson(c);
      return c.json(await run(body, c.req.header(TXN_HEADER)), 200);
    } catch (e) {
      const a = errorAnswer(e);
      return c.json(a.body, a.status as 400, a.headers);
    }
  };
}

/** A header value the upstream can carry: printable ASCII as it is, anything else percent-encoded. */
const headerSafe = (v: string) => (/^[\x20-\x7e]*$/.test(v) ? v : encodeURIComponent(v));

/** `baseUrl`: where the AuthZEN metadata says the PDP is (default: the URL it was fetched from). */
export function createPdpApp(pdp: Pdp, o: { baseUrl?: string | undefined } = {}): Hono {
  const app = new Hono();
  app.get('/_cerbos/health', (c) => c.json({ status: 'SERVING' }));
  app.get('/api/server_info', (c) => c.json(pdp.serverInfo()));
  app.post('/api/check/resources', (c) => answer(c, (b, h) => pdp.checkResources(b, h))());
  app.post('/api/plan/resources', (c) => answer(c, (b, h) => pdp.planResources(b, h))());
  app.post('/access/v1/evaluation', (c) => answer(c, (b, h) => pdp.evaluation(b, h))());
  app.post('/access/v1/evaluations', (c) => answer(c, (b, h) => pdp.evaluations(b, h))());
  for (const kind of ['subject', 'resource', 'action'] as const) app.post(`/access/v1/search/${kind}`, (c) => answer(c, (b, h) => pdp.search(kind, b, h))());
  app.get('/.well-known/authzen-configuration', (c) => {
    const base = (o.baseUrl ?? new URL(c.req.url).origin).replace(/\/+$/, '');
    return c.json({
      policy_decision_point: base,
      access_evaluation_endpoint: `${base}/access/v1/evaluation`,
      access_evaluations_endpoint: `${base}/access/v1/evaluations`,
      search_subject_endpoint: `${base}/access/v1/search/subject`,
      search_resource_endpoint: `${base}/access/v1/search/resource`,
      search_action_endpoint: `${base}/access/v1/search/action`,
    });
  });
  const forward = async (c: Context) => {
    const path = new URL(c.req.url).pathname;
    const { method, uri } = originalRequest((n) => c.req.header(n), c.req.method, path, FORWARD_AUTH_PATH);
    const a = await pdp.forwardAuth({ method, uri, txnHeader: c.req.header(TXN_HEADER) });
    const headers = Object.fromEntries(Object.entries(a.headers).map(([k, v]) => [k, headerSafe(v)]));
    return a.body === null ? c.body(null, a.status, headers) : c.json(a.body, a.status, headers);
  };
  app.all(FORWARD_AUTH_PATH, forward);
  app.all(`${FORWARD_AUTH_PATH}/*`, forward);
  // mounted beside the TTS (pdp.mount), the TTS's own /openapi.json comes first and includes these paths
  let doc: Record<string, unknown> | undefined;
  app.get('/openapi.json', (c) => c.json((doc ??= pdpOpenApiDocument()), 200, { 'Cache-Control': 'public, max-age=300' }));
  return app;
}
