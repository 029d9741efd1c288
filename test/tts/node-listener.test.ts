/**
 * `baton serve` answers `POST /token` on node:http directly (src/server/node-listener.node.ts) and every other route
 * through the hono app. The fast path must answer as the app does: the same requests are sent, over raw HTTP, to the
 * TTS as `startNode` serves it and to the same TTS's hono app served by @hono/node-server (what `startNode` did before),
 * and the answers compared: status, header names in wire order and their values (but `Date` and generated request
 * ids), and the body (a granted token compared by its claims but `iat`/`exp`/`jti`/`txn`).
 */
import { serve, type ServerType } from '@hono/node-server';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRANT_TOKEN_EXCHANGE } from '../../src/txn/index.js';
import { exchangeParams } from '../helpers/tts.js';
import { SECRETS, startWorld, type World } from '../helpers/world-tts.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let w: World;
let viaApp: ServerType;
let fast: string;
let app: string;
beforeAll(async () => {
  w = await startWorld();
  fast = w.tts.url;
  viaApp = await new Promise<ServerType>((ok, fail) => {
    const s = serve({ fetch: w.tts.node.app.fetch, port: 0, hostname: '127.0.0.1' }, () => ok(s));
    s.once('error', fail);
  });
  app = `http://127.0.0.1:${(viaApp.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => viaApp?.close(() => r()));
  await w?.close();
});

interface Raw {
  status: number;
  /** [name, value] as sent, in order */
  headers: [string, string][];
  body: string;
}

/** One request over raw HTTP; `headers` as pairs so that a header can be sent twice. */
function send(base: string, method: string, path: string, headers: [string, string][], body?: string): Promise<Raw> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const flat = ['Host', u.host, ...headers.flat()]; // pairs as given: node:http adds no Host of its own then
    if (body !== undefined && !headers.some(([k]) => k.toLowerCase() === 'content-length')) flat.push('Content-Length', String(Buffer.byteLength(body)));
    const req = request({ host: u.hostname, port: u.port, method, path, headers: flat, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const pairs: [string, string][] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) pairs.push([res.rawHeaders[i]!, res.rawHeaders[i + 1]!]);
        resolve({ status: res.statusCode!, headers: pairs, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The answer with what differs between two answers to the same request for no fault of the server blanked out. */
function comparable(r: Raw): unknown {
  const headers = r.headers
    .filter(([k]) => k.toLowerCase() !== 'date')
    .map(([k, v]): [string, string] => [k, k.toLowerCase() === 'x-request-id' && UUID.test(v) ? '<uuid>' : v]);
  let body: unknown = r.body;
  if (r.status === 200 && r.body.startsWith('{')) {
    const j = JSON.parse(r.body) as Record<string, unknown>;
    const claims = { ...decodeJwt(j.access_token as string) } as Record<string, unknown>;
    for (const k of ['iat', 'exp', 'jti', 'txn']) delete claims[k];
    body = { ...j, access_token: claims };
    // the token's length moves with the digits of its times and ids only
    for (const h of headers) if (h[0].toLowerCase() === 'content-length') h[1] = '<length>';
  }
  return { status: r.status, headers, body };
}

async function both(method: string, path: string, headers: [string, string][], body?: string): Promise<{ fast: Raw; app: Raw }> {
  const a = await send(fast, method, path, headers, body);
  const b = await send(app, method, path, headers, body);
  expect(comparable(a)).toEqual(comparable(b));
  return { fast: a, app: b };
}

const basicAuth = (id: string, secret: string): [string, string] => ['Authorization', `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`];
const FORM: [string, string] = ['Content-Type', 'application/x-www-form-urlencoded'];
async function form(extra: Record<string, string> = {}): Promise<string> {
  return new URLSearchParams({ grant_type: GRANT_TOKEN_EXCHANGE, ...exchangeParams(await w.idp.mint(), extra) }).toString();
}
const header = (r: Raw, name: string) => r.headers.find(([k]) => k.toLowerCase() === name)?.[1];

describe('POST /token on node:http answers as the hono app does', () => {
  it('a granted exchange: same status, headers in the same order, same token claims; a new request id each', async () => {
    const r = await both('POST', '/token', [FORM, basicAuth('mcp-support-agent', SECRETS.agent)], await form());
    expect(r.fast.status).toBe(200);
    expect(r.fast.headers.map(([k]) => k)).toEqual(['cache-control', 'content-type', 'pragma', 'x-request-id', 'Content-Length', 'Date', 'Connection']);
    expect(header(r.fast, 'x-request-id')).toMatch(UUID);
  });

  it('a plain X-Request-Id is kept and logged with the decision; one that is not plain is replaced', async () => {
    const r = await both('POST', '/token', [FORM, basicAuth('mcp-support-agent', SECRETS.agent), ['X-Request-Id', 'req-7.fast']], await form());
    expect(header(r.fast, 'x-request-id')).toBe('req-7.fast');
    expect(w.tts.decisions.filter((d) => d.request_id === 'req-7.fast')).toHaveLength(2);
    const bad = await both('POST', '/token', [FORM, basicAuth('mcp-support-agent', SECRETS.agent), ['X-Request-Id', 'not plain!']], await form());
    expect(header(bad.fast, 'x-request-id')).toMatch(UUID);
  });

  it('a query string, a Content-Type with parameters, traceparent: granted alike', async () => {
    const tp: [string, string] = ['traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'];
    const r = await both('POST', '/token?x=1', [['Content-Type', 'application/x-www-form-urlencoded; charset=utf-8'], basicAuth('mcp-support-agent', SECRETS.agent), tp], await form());
    expect(r.fast.status).toBe(200);
  });

  it('refusals: a wrong content type, Content-Type sent twice, a wrong secret (WWW-Authenticate), no client', async () => {
    const body = await form();
    const ct = await both('POST', '/token', [['Content-Type', 'application/json'], basicAuth('mcp-support-agent', SECRETS.agent)], body);
    expect([ct.fast.status, JSON.parse(ct.fast.body)]).toEqual([400, { error: 'invalid_request', error_description: 'Content-Type must be application/x-www-form-urlencoded' }]);
    // Node keeps the first copy only; the app sees both, joined, and refuses: so does the fast path
    const twice = await both('POST', '/token', [FORM, FORM, basicAuth('mcp-support-agent', SECRETS.agent)], body);
    expect(twice.fast.status).toBe(400);
    const secret = await both('POST', '/token', [FORM, basicAuth('mcp-support-agent', 'wrong-secret')], body);
    expect(secret.fast.status).toBe(401);
    expect(header(secret.fast, 'www-authenticate')).toBe('Basic realm="baton"');
    expect(secret.fast.headers.map(([k]) => k).slice(0, 6)).toEqual(['cache-control', 'content-type', 'pragma', 'www-authenticate', 'x-request-id', 'Content-Length']);
    const none = await both('POST', '/token', [FORM], body);
    expect(none.fast.status).toBe(401);
    // Authorization sent twice: the app sees both copies joined, so does the fast path
    const dup = await both('POST', '/token', [FORM, basicAuth('mcp-support-agent', SECRETS.agent), basicAuth('mcp-support-agent', SECRETS.agent)], body);
    expect(dup.fast.status).toBe(401);
  });

  it('T-07 an oversized body: 413, whether declared or not', async () => {
    const big = `${await form()}&pad=${'x'.repeat(70 * 1024)}`;
    const declared = await both('POST', '/token', [FORM, basicAuth('mcp-support-agent', SECRETS.agent)], big);
    expect(declared.fast.status).toBe(413);
  });

  it('the request is counted under the route /token in the metrics', async () => {
    const count = async () => {
      const m = await (await fetch(`${fast}/metrics`)).text();
      const line = m.split('\n').find((l) => l.startsWith('baton_http_requests_total{') && l.includes('route="/token"') && l.includes('status="200"'));
      return line === undefined ? 0 : Number(line.split(' ').pop());
    };
    const before = await count();
    const r = await send(fast, 'POST', '/token', [FORM, basicAuth('mcp-support-agent', SECRETS.agent)], await form());
    expect(r.status).toBe(200);
    expect(await count()).toBe(before + 1);
  });

  it('other methods and paths go to the app: GET /token is its 404', async () => {
    const r = await both('GET', '/token', []);
    expect(r.fast.status).toBe(404);
    const revoke = await both('POST', '/revoke', [FORM], 'token=x');
    expect(revoke.fast.status).toBe(401);
  });
});
