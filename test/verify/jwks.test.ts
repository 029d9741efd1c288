/**
 * Issue 10 finding 7: the verifier's remote JWKS under a failing or hostile key-set endpoint. A loopback HTTP server
 * plays the TTS's JWKS endpoint and is switched between serving, failing (500, not JSON, hanging up) and serving huge
 * bodies; the verifier's clock (`now`) is moved instead of sleeping. Checked: the last good key set keeps verifying
 * known kids while refreshes fail, up to the stale bound, then every token is refused `unavailable` (fail closed) until
 * a fetch succeeds; failed fetches back off instead of happening on every check; a response is read at most
 * `jwksMaxBytes` far and may carry at most `jwksMaxKeys` keys.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { importJWK, SignJWT, type JWK } from 'jose';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningJwk, toPublicJwk } from '../../src/jose/keys.js';
import { createVerifier, TxnTokenError, type Verifier } from '../../src/verify/index.js';
import { TRUST_DOMAIN } from '../helpers/names.js';

let signing: JWK;
let other: JWK;

beforeAll(async () => {
  signing = await generateSigningJwk('EdDSA');
  other = await generateSigningJwk('EdDSA');
});

/** A Txn-Token signed with `jwk`, valid around `nowMs` for ten hours (the tests move the verifier's clock). */
async function txnToken(jwk: JWK, nowMs: number): Promise<string> {
  const iat = Math.floor(nowMs / 1000);
  return new SignJWT({ txn: crypto.randomUUID(), scope: 'tickets:read', req_wl: 'mcp', act: { sub: 'mcp' }, tctx: {}, rctx: {} })
    .setProtectedHeader({ alg: 'EdDSA', kid: jwk.kid!, typ: 'txntoken+jwt' })
    .setSubject('alice')
    .setAudience(TRUST_DOMAIN)
    .setIssuedAt(iat)
    .setExpirationTime(iat + 36_000)
    .sign(await importJWK(jwk, 'EdDSA'));
}

type Mode = 'serve' | 'fail500' | 'notjson' | 'hangup' | { huge: number; declared: boolean } | { keys: number };

interface JwksServer {
  url: string;
  mode: Mode;
  fetches: number;
  /** bytes written for the last huge answer before the client went away */
  hugeBytesSent: number;
  close(): Promise<void>;
}

async function jwksServer(published: () => JWK[]): Promise<JwksServer> {
  const s: JwksServer = { url: '', mode: 'serve', fetches: 0, hugeBytesSent: 0, close: async () => {} };
  const server: Server = createServer((req, res: ServerResponse) => {
    s.fetches++;
    const mode = s.mode;
    if (mode === 'serve') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: published().map(toPublicJwk) }));
    if (mode === 'fail500') return void res.writeHead(500).end('{}');
    if (mode === 'notjson') return void res.writeHead(200, { 'content-type': 'application/json' }).end('<html>');
    if (mode === 'hangup') return void req.socket.destroy();
    if ('keys' in mode) {
      const keys = Array.from({ length: mode.keys }, (_, i) => ({ ...toPublicJwk(published()[0]!), kid: `k-${i}` }));
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
    }
    // a huge body, written lazily as the client reads: '{"keys":[' then padding forever-ish
    res.writeHead(200, { 'content-type': 'application/json', ...(mode.declared ? { 'content-length': String(mode.huge) } : {}) });
    s.hugeBytesSent = 0;
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const pump = (): void => {
      while (s.hugeBytesSent < mode.huge) {
        s.hugeBytesSent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    res.on('close', () => res.removeAllListeners('drain'));
    pump();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  s.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  s.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return s;
}

/** Polls until `f` holds (a hang guard of 10 s, not a timing assertion). */
async function until(f: () => boolean): Promise<void> {
  const end = Date.now() + 10_000;
  while (!f()) {
    if (Date.now() > end) throw new Error('condition not reached within 10 s');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const o of open.splice(0)) await o.close();
});

async function code(v: Verifier, token: string): Promise<string> {
  try {
    await v.verify(token);
    return 'ok';
  } catch (e) {
    expect(e).toBeInstanceOf(TxnTokenError);
    return (e as TxnTokenError).code;
  }
}

function setup(opts: { maxAgeMs?: number; maxStaleMs?: number; maxBytes?: number; maxKeys?: number } = {}) {
  const clock = { now: Date.now() };
  return async (server: JwksServer) => {
    const v = createVerifier({
      trustDomain: TRUST_DOMAIN,
      jwksUri: server.url,
      onDecision: null,
      cacheSize: 0, // every check goes to the key set
      now: () => clock.now,
      ...(opts.maxAgeMs !== undefined ? { jwksCacheMaxAgeMs: opts.maxAgeMs } : {}),
      ...(opts.maxStaleMs !== undefined ? { jwksMaxStaleMs: opts.maxStaleMs } : {}),
      ...(opts.maxBytes !== undefined ? { jwksMaxBytes: opts.maxBytes } : {}),
      ...(opts.maxKeys !== undefined ? { jwksMaxKeys: opts.maxKeys } : {}),
    });
    open.push(v);
    return { v, clock };
  };
}

describe('issue 10 finding 7: JWKS resilience', () => {
  it('issue 10 finding 7: a JWKS refresh that fails after the cache age keeps the last good key set for a kid it knows, and backs off', async () => {
    const server = await jwksServer(() => [signing]);
    open.push(server);
    const { v, clock } = await setup({ maxAgeMs: 600_000, maxStaleMs: 3_600_000 })(server);
    expect(await code(v, await txnToken(signing, clock.now))).toBe('ok');
    expect(server.fetches).toBe(1);
    for (const failure of ['fail500', 'notjson', 'hangup'] as const) {
      server.mode = failure;
      clock.now += 11 * 60_000; // past the cache age (and past any backoff)
      const before = server.fetches;
      // many checks: the known kid keeps verifying from the last good set; the endpoint sees one refresh, not one per check
      for (let i = 0; i < 50; i++) expect(await code(v, await txnToken(signing, clock.now)), failure).toBe('ok');
      await until(() => server.fetches - before >= 1); // the background refresh reached the endpoint
      await new Promise((r) => setTimeout(r, 100)); // and failed (the backoff is on the verifier's clock, which stands)
      for (let i = 0; i < 50; i++) expect(await code(v, await txnToken(signing, clock.now)), failure).toBe('ok');
      expect(server.fetches - before, failure).toBe(1);
    }
    // the refresh succeeds again: served fresh
    server.mode = 'serve';
    clock.now += 61_000; // past the longest backoff
    const m = server.fetches;
    expect(await code(v, await txnToken(signing, clock.now))).toBe('ok');
    await until(() => server.fetches > m);
    await new Promise((r) => setTimeout(r, 100)); // the refresh has completed: the set is fresh again
    const n = server.fetches;
    for (let i = 0; i < 10; i++) expect(await code(v, await txnToken(signing, clock.now))).toBe('ok');
    expect(server.fetches).toBe(n);
  });

  it('issue 10 finding 7: past the stale bound the verifier fails closed (unavailable, 503) until a fetch succeeds', async () => {
    const server = await jwksServer(() => [signing]);
    open.push(server);
    const { v, clock } = await setup({ maxAgeMs: 60_000, maxStaleMs: 300_000 })(server);
    expect(await code(v, await txnToken(signing, clock.now))).toBe('ok');
    server.mode = 'fail500';
    clock.now += 60_000 + 300_000 - 1000; // still within the bound
    expect(await code(v, await txnToken(signing, clock.now))).toBe('ok');
    clock.now += 2000; // beyond it
    expect(await code(v, await txnToken(signing, clock.now))).toBe('unavailable');
    // backoff: repeated checks do not refetch every time
    const n = server.fetches;
    for (let i = 0; i < 20; i++) expect(await code(v, await txnToken(signing, clock.now))).toBe('unavailable');
    expect(server.fetches).toBe(n);
    server.mode = 'serve';
    clock.now += 61_000;
    expect(await code(v, await txnToken(signing, clock.now))).toBe('ok');
  });

  it('issue 10 finding 7: a kid the last good set lacks, while refreshes fail, is unavailable (503), not a bad token', async () => {
    const server = await jwksServer(() => [signing]);
    open.push(server);
    const { v, clock } = await setup()(server);
    expect(await code(v, await txnToken(signing, clock.now))).toBe('ok');
    expect(await code(v, await txnToken(other, clock.now))).toBe('unknown_kid'); // the set is fine: other's kid is unknown
    server.mode = 'fail500';
    clock.now += 31_000; // past the unknown-kid cool-down
    expect(await code(v, await txnToken(other, clock.now))).toBe('unavailable');
    expect(await code(v, await txnToken(signing, clock.now))).toBe('ok'); // the known kid still verifies
  });

  it('issue 10 finding 7: a huge JWKS is not read past jwksMaxBytes (64 KiB), with or without Content-Length', async () => {
    for (const declared of [false, true]) {
      const server = await jwksServer(() => [signing]);
      open.push(server);
      const huge = 200 * 1024 * 1024;
      server.mode = { huge, declared };
      const { v, clock } = await setup()(server);
      const heapBefore = process.memoryUsage().heapUsed;
      const e = await v.verify(await txnToken(signing, clock.now)).then(() => undefined, (x: TxnTokenError) => x);
      expect(e?.code).toBe('unavailable');
      expect(e?.message).toMatch(/larger than 65536 bytes/);
      // what the server could push into socket buffers before the verifier stopped reading: a few MB at most
      await new Promise((r) => setTimeout(r, 50));
      expect(server.hugeBytesSent).toBeLessThan(huge / 10);
      expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
    }
  });

  it('issue 10 finding 7: a JWKS with more than jwksMaxKeys keys (default 50) is refused', async () => {
    const server = await jwksServer(() => [signing]);
    open.push(server);
    server.mode = { keys: 51 };
    const { v, clock } = await setup()(server);
    const e = await v.verify(await txnToken(signing, clock.now)).then(() => undefined, (x: TxnTokenError) => x);
    expect(e?.code).toBe('unavailable');
    expect(e?.message).toMatch(/more than 50 keys/);
    server.mode = { keys: 50 };
    clock.now += 61_000;
    // 50 keys are accepted (none has the token's kid here: a clean unknown_kid)
    expect(await code(v, await txnToken(signing, clock.now))).toBe('unknown_kid');
  });
});
