/**
 * The TTS's request listener on Node: `POST /token`, the hot route, is answered on node:http directly (no Fetch
 * `Request`/`Response`, no hono `Context`, `Headers` or middleware chain); everything else goes to the hono app
 * through @hono/node-server. The answer is the app's, byte for byte but for the `Date` header: the same form reader
 * (`readFormOf`), service call, request id (`requestIdOf`), error rendering (`toOAuthError`), headers (named and
 * ordered as @hono/node-server writes the app's) and metrics (`observer.request`, route `/token`). A middleware added
 * to the app (app.ts) that changes what `/token` answers must be added here too: test/tts/node-listener.test.ts
 * compares the two paths' raw answers.
 */
import { getRequestListener } from '@hono/node-server';
import type { Hono } from 'hono';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { toOAuthError, type TokenService } from '../exchange/index.js';
import type { Observer } from '../ops/observe.js';
import { readFormOf } from './app.js';
import { readIncoming } from './node-http.node.js';
import { requestIdOf } from './ops-routes.js';

export interface NodeListenerOptions {
  service: TokenService;
  /** the hono app serving every other route (the TTS's app, or an app that mounts it) */
  app: Hono;
  /** the metrics observer the app was built with (none: no request metrics) */
  observer?: Observer | undefined;
  /** the host of a request without a `Host` header (@hono/node-server's `hostname`) */
  hostname?: string | undefined;
}

const isHttpWhitespace = (code: number): boolean => code === 9 || code === 10 || code === 13 || code === 32;

/** A header value without surrounding HTTP whitespace (as the Fetch `Headers` normalize it). */
function trimmed(v: string): string {
  if (v.length === 0 || (!isHttpWhitespace(v.charCodeAt(0)) && !isHttpWhitespace(v.charCodeAt(v.length - 1)))) return v;
  let start = 0;
  let end = v.length;
  while (start < end && isHttpWhitespace(v.charCodeAt(start))) start++;
  while (end > start && isHttpWhitespace(v.charCodeAt(end - 1))) end--;
  return v.slice(start, end);
}

/**
 * A header of which Node keeps only the first copy (`authorization`, `content-type`, `content-length`), as the app
 * sees it: every copy, joined with `, ` (what `c.req.header` answers on @hono/node-server).
 */
function everyCopy(req: IncomingMessage, lower: string): string | undefined {
  const raw = req.rawHeaders;
  let value: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === lower.length && name.toLowerCase() === lower) {
      const v = trimmed(raw[i + 1]!);
      value = value === undefined ? v : `${value}, ${v}`;
    }
  }
  return value;
}

/** A header Node joins itself (`x-request-id`, `traceparent`, `tracestate`), as the app sees it. */
function joined(req: IncomingMessage, lower: string): string | undefined {
  const v = req.headers[lower];
  return typeof v === 'string' ? trimmed(v) : undefined;
}

const JSON_NO_STORE = ['cache-control', 'no-store', 'content-type', 'application/json', 'pragma', 'no-cache'] as const;

/**
 * Writes a JSON answer as @hono/node-server writes the app's `c.json(body, status, NO_STORE + extra)` with the request
 * id set by the middleware: header names lower-cased in name order, then `Content-Length`; one `end`.
 */
function writeJson(res: ServerResponse, status: number, text: string, requestId: string, extra: Readonly<Record<string, string>> | undefined): void {
  const headers: Record<string, string | number> = {};
  const more = extra === undefined ? [] : Object.keys(extra);
  if (more.length === 0) {
    for (let i = 0; i < JSON_NO_STORE.length; i += 2) headers[JSON_NO_STORE[i]!] = JSON_NO_STORE[i + 1]!;
    headers['x-request-id'] = requestId;
  } else {
    const all = new Map<string, string>();
    for (let i = 0; i < JSON_NO_STORE.length; i += 2) all.set(JSON_NO_STORE[i]!, JSON_NO_STORE[i + 1]!);
    for (const k of more) all.set(k.toLowerCase(), trimmed(extra![k]!));
    all.set('x-request-id', requestId);
    for (const k of [...all.keys()].sort()) headers[k] = all.get(k)!;
  }
  headers['Content-Length'] = Buffer.byteLength(text);
  res.writeHead(status, headers);
  res.end(text);
}

/** `POST /token`, answered as the app answers it (see the module comment). */
async function token(o: NodeListenerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const t0 = o.observer === undefined ? 0 : performance.now();
  const requestId = requestIdOf(joined(req, 'x-request-id'));
  let status = 200;
  let text: string;
  let extra: Readonly<Record<string, string>> | undefined;
  try {
    const read = async () => ({
      form: await readFormOf(everyCopy(req, 'content-type'), everyCopy(req, 'content-length'), () => readIncoming(req)),
      authorization: everyCopy(req, 'authorization'),
      remoteAddr: req.socket.remoteAddress,
    });
    const meta = { requestId, trace: { traceparent: joined(req, 'traceparent'), tracestate: joined(req, 'tracestate') } };
    text = JSON.stringify(await o.service.exchange(read, meta));
  } catch (e) {
    const err = toOAuthError(e);
    status = err.status;
    text = JSON.stringify(err.toJSON());
    extra = err.headers;
  }
  o.observer?.request('/token', 'POST', status, (performance.now() - t0) / 1000);
  writeJson(res, status, text, requestId, extra);
}

/** A `Host` @hono/node-server takes as it is (anything else it parses, and may refuse with 400: left to it). */
const PLAIN_HOST = /^[a-z0-9._-]+(?::(?:[1-5]\d{3,4}|[6-9]\d{3}))?$/;

/** Whether the fast path answers this request: `POST /token` (a query string allowed, as the app routes it). */
function isToken(req: IncomingMessage): boolean {
  if (req.method !== 'POST') return false;
  const url = req.url ?? '';
  if (url !== '/token' && !(url.startsWith('/token?') && !url.includes('#'))) return false;
  const host = req.headers.host;
  return host !== undefined && PLAIN_HOST.test(host);
}

/** The request listener of `baton serve` (see the module comment). */
export function ttsRequestListener(o: NodeListenerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const fallback = getRequestListener(o.app.fetch, o.hostname !== undefined ? { hostname: o.hostname } : {});
  return (req, res) => {
    // token() answers every refusal itself; what could still throw (a socket gone while writing) must not become an
    // unhandled rejection that ends the process: the connection is dropped instead
    if (isToken(req)) token(o, req, res).catch(() => res.destroy());
    else void fallback(req, res);
  };
}
