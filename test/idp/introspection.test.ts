// Issue 17: the RFC 7662 introspection client (src/exchange/introspection.ts) against a misbehaving IdP on loopback
// (real HTTP): every answer that is not a well-formed 200 fails closed, requests are bounded, answers are cached under
// a hash of the token and never past exp, client authentication is what RFC 6749 §2.3.1 / RFC 7523 say.
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, createLocalJWKSet, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { introspectionSchema, type IntrospectionConfig } from '../../src/config/idp.js';
import { checkIntrospectedClaims, IntrospectionUnavailable, Introspector, MAX_ANSWER_BYTES, type IntrospectorOptions } from '../../src/exchange/introspection.js';
import { JwtProfileError } from '../../src/jose/profiles.js';

const ISSUER = 'https://idp.example.com';

interface Seen {
  headers: IncomingMessage['headers'];
  body: URLSearchParams;
}

/** An introspection endpoint whose behaviour each test sets; it records what it was sent. */
let handle: (req: IncomingMessage, res: ServerResponse, body: URLSearchParams) => void = (_q, res) => res.writeHead(500).end();
const seen: Seen[] = [];
let server: Server;
let endpoint: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      seen.push({ headers: req.headers, body });
      handle(req, res, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/introspect`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

const json = (o: unknown, status = 200, type = 'application/json') => (_q: IncomingMessage, res: ServerResponse) => {
  res.writeHead(status, { 'content-type': type });
  res.end(typeof o === 'string' ? o : JSON.stringify(o));
};

function config(o: Partial<Record<keyof IntrospectionConfig, unknown>> = {}): IntrospectionConfig {
  return introspectionSchema.parse({ endpoint, clientId: 'baton', auth: 'client_secret_basic', secret: 'introspection-secret', timeoutMs: 500, ...o });
}

function introspector(c: IntrospectionConfig, o: Partial<IntrospectorOptions> = {}): Introspector {
  return new Introspector({
    issuer: ISSUER,
    config: c,
    endpoint: async () => endpoint,
    keys: async () => {
      throw new Error('no keys in this test');
    },
    algorithms: ['ES256', 'RS256'],
    clockSkew: 30,
    ...o,
  });
}

const nowSec = () => Math.floor(Date.now() / 1000);
const active = (extra: Record<string, unknown> = {}) => ({ active: true, iss: ISSUER, aud: 'https://mcp.example', sub: 'alice', scope: 'tickets', exp: nowSec() + 300, ...extra });

async function unavailable(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(IntrospectionUnavailable);
  return (e as Error).message;
}

describe('introspection client: fail closed on anything but a well-formed answer', () => {
  const cases: Array<[string, (req: IncomingMessage, res: ServerResponse) => void, RegExp]> = [
    ['HTTP 500', json({ error: 'server_error' }, 500), /^the introspection endpoint answered HTTP 500$/],
    ['HTTP 401 (Baton misconfigured)', json({ error: 'invalid_client' }, 401), /^the introspection endpoint answered HTTP 401$/],
    ['an HTML page', json('<html>login</html>', 200, 'text/html'), /^the introspection endpoint did not answer with JSON$/],
    ['JSON that does not parse', json('{"active": tru', 200), /^the introspection answer is not JSON$/],
    ['a JSON array', json([{ active: true }]), /^the introspection answer is not a JSON object$/],
    ['no active member', json({ sub: 'alice' }), /no boolean active member/],
    ['active as a string', json({ active: 'true' }), /no boolean active member/],
    ['a redirect (never followed)', (_q, res) => res.writeHead(302, { location: 'http://127.0.0.1:1/elsewhere' }).end(), /^the introspection endpoint answered HTTP 302$/],
    ['an answer over the size bound', json({ active: true, pad: 'x'.repeat(MAX_ANSWER_BYTES) }), /answer exceeds 65536 bytes$/],
  ];
  for (const [what, h, reason] of cases)
    it(`${what}: IntrospectionUnavailable naming the reason, never the body`, async () => {
      handle = h;
      const message = await unavailable(introspector(config()).introspect(`tok-${randomUUID()}`));
      expect(message).toMatch(reason);
      expect(message).not.toMatch(/login|server_error|invalid_client|tru\b/);
    });

  it('an endpoint that never answers: bounded by timeoutMs', async () => {
    handle = () => {}; // holds the request
    const started = Date.now();
    expect(await unavailable(introspector(config({ timeoutMs: 200 })).introspect('tok'))).toBe('the introspection endpoint did not answer within 200 ms');
    expect(Date.now() - started).toBeLessThan(5_000); // bounded (not a timing assertion on the bound itself)
  });

  it('an answer whose body stalls after the headers: bounded too', async () => {
    handle = (_q, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"active":');
    };
    expect(await unavailable(introspector(config({ timeoutMs: 200 })).introspect('tok'))).toMatch(/answer did not arrive within 200 ms$/);
  });

  it('a refused connection', async () => {
    const i = introspector(config(), { endpoint: async () => 'http://127.0.0.1:1/introspect' });
    expect(await unavailable(i.introspect('tok'))).toBe('the introspection endpoint cannot be reached');
  });

  it('failures are never cached: the next call asks again', async () => {
    handle = json({}, 503);
    const i = introspector(config());
    await unavailable(i.introspect('tok-x'));
    await unavailable(i.introspect('tok-x'));
    expect(i.stats()).toMatchObject({ requests: 2, cacheSize: 0 });
  });
});

describe('introspection client: client authentication and request', () => {
  it('client_secret_basic: id and secret form-urlencoded before Basic (RFC 6749 §2.3.1); token and hint in the body', async () => {
    handle = json(active());
    seen.length = 0;
    await introspector(config({ clientId: 'baton:tts', secret: 'p@ss w%rd:1' })).introspect('the-token');
    const s = seen[0]!;
    const [id, secret] = Buffer.from(String(s.headers.authorization).replace(/^Basic /, ''), 'base64').toString().split(':');
    expect([decodeURIComponent(id!.replace(/\+/g, ' ')), decodeURIComponent(secret!.replace(/\+/g, ' '))]).toEqual(['baton:tts', 'p@ss w%rd:1']);
    expect(Object.fromEntries(s.body)).toEqual({ token: 'the-token', token_type_hint: 'access_token' });
    expect(s.headers.accept).toBe('application/json');
  });

  it('client_secret_post: id and secret in the body, no Authorization header', async () => {
    handle = json(active());
    seen.length = 0;
    await introspector(config({ auth: 'client_secret_post', clientId: 'baton', secret: 's3cret-value' })).introspect('t');
    expect(seen[0]!.headers.authorization).toBeUndefined();
    expect(Object.fromEntries(seen[0]!.body)).toEqual({ token: 't', token_type_hint: 'access_token', client_id: 'baton', client_secret: 's3cret-value' });
  });

  for (const aud of ['issuer', 'endpoint'] as const)
    it(`private_key_jwt (RFC 7523): a fresh assertion per request, iss = sub = client id, aud = the ${aud}`, async () => {
      const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
      const priv = { ...(await exportJWK(privateKey)), kid: 'k1' };
      handle = json(active());
      seen.length = 0;
      const i = introspector(config({ auth: 'private_key_jwt', secret: undefined, privateJwk: JSON.stringify(priv), assertionAudience: aud, cacheSeconds: 0 }));
      await i.introspect('t1');
      await i.introspect('t2');
      const assertions = seen.map((s) => s.body.get('client_assertion')!);
      expect(seen[0]!.body.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
      expect(seen[0]!.body.get('client_id')).toBe('baton');
      const { payload, protectedHeader } = await jwtVerify(assertions[0]!, publicKey, { issuer: 'baton', subject: 'baton', audience: aud === 'issuer' ? ISSUER : endpoint });
      expect(protectedHeader).toMatchObject({ alg: 'ES256', kid: 'k1' });
      expect(typeof payload.aud).toBe('string'); // one audience, never an array (rfc7523bis)
      expect(payload.exp! - payload.iat!).toBe(60);
      const second = await jwtVerify(assertions[1]!, publicKey);
      expect(second.payload.jti).not.toBe(payload.jti);
    });
});

describe('introspection client: cache', () => {
  it('an active answer is reused, at most cacheSeconds; keyed by the SHA-256 of the token, never the token', async () => {
    let t = Date.now();
    handle = json(active({ exp: Math.floor(t / 1000) + 3600 }));
    const i = introspector(config({ cacheSeconds: 30 }), { now: () => t });
    const token = `opaque-${randomUUID()}`;
    await i.introspect(token);
    await i.introspect(token);
    expect(i.stats()).toMatchObject({ requests: 1, cacheHits: 1 });
    expect(i.cacheKeys()).toEqual([createHash('sha256').update(token).digest('base64url')]);
    t += 30_001;
    await i.introspect(token);
    expect(i.stats().requests).toBe(2);
  });

  it('never past the token exp, even within cacheSeconds', async () => {
    let t = Date.now();
    handle = json(active({ exp: Math.floor(t / 1000) + 5 }));
    const i = introspector(config({ cacheSeconds: 300 }), { now: () => t });
    await i.introspect('short');
    t += 4_000;
    await i.introspect('short');
    expect(i.stats().requests).toBe(1);
    t += 2_000; // past exp
    await i.introspect('short');
    expect(i.stats().requests).toBe(2);
  });

  it('an inactive answer is reused negativeCacheSeconds; cacheSeconds 0 reuses nothing active', async () => {
    let t = Date.now();
    handle = json({ active: false });
    const i = introspector(config({ negativeCacheSeconds: 10, cacheSeconds: 0 }), { now: () => t });
    expect(await i.introspect('gone')).toEqual({ active: false });
    t += 9_000;
    await i.introspect('gone');
    expect(i.stats().requests).toBe(1);
    t += 2_000;
    await i.introspect('gone');
    expect(i.stats().requests).toBe(2);
    handle = json(active());
    await i.introspect('live');
    await i.introspect('live');
    expect(i.stats().requests).toBe(4);
  });

  it('holds at most cacheMaxEntries answers, dropping the least recently used', async () => {
    handle = json(active());
    const i = introspector(config({ cacheMaxEntries: 2 }));
    await i.introspect('a');
    await i.introspect('b');
    await i.introspect('a'); // a is now the most recent
    await i.introspect('c'); // drops b
    expect(i.stats().cacheSize).toBe(2);
    const before = i.stats().requests;
    await i.introspect('a');
    await i.introspect('b');
    expect(i.stats().requests - before).toBe(1);
  });

  it('concurrent requests for one token share one introspection call', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    let calls = 0;
    handle = (_q, res) => {
      calls++;
      void gate.then(() => json(active())(_q, res));
    };
    const i = introspector(config());
    const all = Promise.all([i.introspect('same'), i.introspect('same'), i.introspect('same')]);
    await new Promise((r) => setTimeout(r, 50));
    release();
    const answers = await all;
    expect(answers.every((a) => a.active)).toBe(true);
    expect(calls).toBe(1);
  });
});

describe('introspection client: RFC 9701 JWT answers', () => {
  let idpKey: { privateKey: CryptoKey; jwk: JWK };
  let otherKey: CryptoKey;
  beforeAll(async () => {
    const k = await generateKeyPair('ES256', { extractable: true });
    idpKey = { privateKey: k.privateKey, jwk: { ...(await exportJWK(k.publicKey)), kid: 'idp-1' } };
    otherKey = (await generateKeyPair('ES256')).privateKey;
  });
  const keys = async () => createLocalJWKSet({ keys: [idpKey.jwk] });
  const jwtAnswer = async (o: { typ?: string; iss?: string; aud?: string; iat?: number | null; inner?: unknown; key?: CryptoKey } = {}) => {
    const jwt = new SignJWT({ token_introspection: o.inner === undefined ? active() : o.inner } as Record<string, unknown>)
      .setProtectedHeader({ alg: 'ES256', kid: 'idp-1', typ: o.typ ?? 'token-introspection+jwt' })
      .setIssuer(o.iss ?? ISSUER)
      .setAudience(o.aud ?? 'baton');
    if (o.iat !== null) jwt.setIssuedAt(o.iat ?? nowSec());
    return jwt.sign(o.key ?? idpKey.privateKey);
  };
  const serve = (body: string, type = 'application/token-introspection+jwt') => json(body, 200, type);

  it('accepts a signed answer of the issuer for this client, and asks for it with Accept', async () => {
    handle = serve(await jwtAnswer());
    seen.length = 0;
    const a = await introspector(config({ jwtResponse: true }), { keys }).introspect('t');
    expect(a).toMatchObject({ active: true, claims: { sub: 'alice' } });
    expect(seen[0]!.headers.accept).toBe('application/token-introspection+jwt');
  });

  const bad: Array<[string, () => Promise<string>, string]> = [
    ['another typ', () => jwtAnswer({ typ: 'JWT' }), 'typ is not token-introspection+jwt'],
    ['another signer', () => jwtAnswer({ key: otherKey }), 'signature invalid'],
    ['another issuer', () => jwtAnswer({ iss: 'https://evil.example' }), 'iss is not the issuer'],
    ['for another client', () => jwtAnswer({ aud: 'someone-else' }), 'aud is not this client'],
    ['without iat', () => jwtAnswer({ iat: null }), 'iat is missing'],
    ['iat in the future', () => jwtAnswer({ iat: nowSec() + 3600 }), 'iat is in the future'],
    ['without token_introspection', () => jwtAnswer({ inner: 'x' }), 'token_introspection is missing'],
    ['encrypted (JWE)', async () => 'a.b.c.d.e', 'not a signed JWT (encrypted answers are not supported)'],
  ];
  for (const [what, make, reason] of bad)
    it(`refuses ${what}: fail closed`, async () => {
      handle = serve(await make());
      expect(await unavailable(introspector(config({ jwtResponse: true }), { keys }).introspect('t'))).toBe(`the JWT introspection answer is not acceptable: ${reason}`);
    });

  it('refuses a plain JSON answer when JWT answers are configured (no downgrade)', async () => {
    handle = json(active());
    expect(await unavailable(introspector(config({ jwtResponse: true }), { keys }).introspect('t'))).toBe(
      'the introspection endpoint did not answer with application/token-introspection+jwt (RFC 9701)',
    );
  });

  it('the assertion key is imported once and must be private', async () => {
    const { publicKey } = await generateKeyPair('ES256', { extractable: true });
    const pub = await exportJWK(publicKey);
    handle = json(active());
    const i = introspector(config({ auth: 'private_key_jwt', secret: undefined, privateJwk: pub }));
    expect(await unavailable(i.introspect('t'))).toBe('introspection.privateJwk is not a private key');
    expect(await importJWK(pub, 'ES256')).toBeDefined();
  });
});

describe('checkIntrospectedClaims (T-09 for an active answer)', () => {
  const o = { issuer: ISSUER, audiences: ['https://mcp.example'], clockSkew: 30, now: nowSec() };
  const code = (claims: Record<string, unknown>) => {
    try {
      checkIntrospectedClaims(claims, o);
      return 'ok';
    } catch (e) {
      expect(e).toBeInstanceOf(JwtProfileError);
      return `${(e as JwtProfileError).code}: ${(e as Error).message}`;
    }
  };
  it.each([
    ['a complete answer', active(), 'ok'],
    ['no iss (the endpoint speaks for its issuer)', { ...active(), iss: undefined }, 'ok'],
    ['another iss', active({ iss: 'https://other.example' }), 'wrong_issuer: issuer not accepted'],
    ['no aud', { ...active(), aud: undefined }, 'wrong_audience: audience not accepted'],
    ['another aud', active({ aud: ['https://x.example'] }), 'wrong_audience: audience not accepted'],
    ['no exp', { ...active(), exp: undefined }, 'missing_claim: the introspection answer has no exp'],
    ['exp as a string', active({ exp: String(nowSec() + 60) }), 'invalid_claim: exp must be a number'],
    ['expired beyond the skew', active({ exp: nowSec() - 31 }), 'expired: token is expired'],
    ['nbf in the future', active({ nbf: nowSec() + 120 }), 'not_yet_valid: nbf is in the future'],
    ['sub not a string', active({ sub: 42 }), 'invalid_claim: sub must be a string'],
    ['a DPoP token', active({ token_type: 'DPoP' }), 'invalid_claim: the introspected token is not a Bearer access token'],
    ['a refresh token', active({ token_type: 'refresh_token' }), 'invalid_claim: the introspected token is not a Bearer access token'],
    ['Bearer in any case', active({ token_type: 'bearer' }), 'ok'],
    ['sender-constrained (cnf)', active({ cnf: { jkt: 'abc' } }), 'invalid_claim: the introspected token is sender-constrained (cnf); its holder must present it'],
  ])('%s', (_what, claims, expected) => {
    expect(code(claims as Record<string, unknown>)).toBe(expected);
  });
});
