/**
 * The verifier as every receiving service uses it (V-01..V-09): tokens from the real TTS over loopback, and tokens
 * forged with the TTS's own key (or another) to hit each refusal. Each refusal is its own test with its code.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningJwk, toPublicJwk } from '../../src/jose/keys.js';
import { memoryLines, stdoutWriter, useStdoutWriter } from '../../src/log/index.js';
import { MemoryStore } from '../../src/store/memory.js';
import { createVerifier, TxnTokenError, type TxnTokenErrorCode, type TxnTokenReason, type ServiceDecisionEntry, type Verifier } from '../../src/verify/index.js';
import { rawJwt, tamperPayload } from '../helpers/jwt.js';
import { hmacJwt } from '../helpers/jwt.node.js';
import { TRUST_DOMAIN } from '../helpers/names.js';
import { startVerifyWorld, type VerifyWorld } from '../helpers/world-verify.js';

let w: VerifyWorld;
let v: Verifier;

beforeAll(async () => {
  w = await startVerifyWorld();
  v = createVerifier({ trustDomain: TRUST_DOMAIN, issuer: w.tts.issuer, jwks: w.jwks });
});
afterAll(async () => {
  await v?.close();
  await w?.close();
});

async function refusal(p: Promise<unknown>): Promise<TxnTokenError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(TxnTokenError);
    return e as TxnTokenError;
  }
  throw new Error('the token was accepted');
}

/** A refusal with its code (what the service is told) and its reason (which check refused: issue 18). */
async function expectCode(verifier: Verifier, header: string | null | undefined, code: TxnTokenErrorCode, reason: TxnTokenReason): Promise<TxnTokenError> {
  const e = await refusal(verifier.verify(header));
  expect(e.code, e.message).toBe(code);
  expect(e.reason, e.message).toBe(reason);
  expect(e.status).toBe(code === 'unavailable' ? 503 : 401);
  if (typeof header === 'string' && header.length > 20) {
    expect(e.message).not.toContain(header);
    const sig = header.split('.')[2];
    if (sig !== undefined && sig.length > 8) expect(e.message).not.toContain(sig);
  }
  return e;
}

describe('a valid Txn-Token', () => {
  it('from the TTS verifies to a frozen context: txn, sub, scope set, actor, chain, principal', async () => {
    const token = await w.exchange();
    const t = await v.verify(token);
    expect(t.token).toBe(token);
    expect(t.sub).toBe('alice');
    expect(t.txn).toMatch(/^[0-9a-f-]{36}$/);
    expect([...t.scope].sort()).toEqual(['orders:read', 'tickets:read']);
    expect(t.actor).toBe('mcp-support-agent');
    expect(t.chain).toEqual(['mcp-support-agent']);
    expect(t.tctx.roles).toEqual(['user']);
    expect(t.exp).toBeGreaterThan(Math.floor(Date.now() / 1000));
    expect(t.principal).toEqual({ id: 'alice', roles: ['user'], attr: { workload: 'mcp-support-agent', chain: [] } });
    expect(Object.isFrozen(t)).toBe(true);
    expect(Object.isFrozen(t.claims)).toBe(true);
    expect(() => (t.scope as Set<string>).add('orders:refund')).toThrow(TypeError);
    expect(() => (t.chain as string[]).push('evil')).toThrow(TypeError);
    expect(t.scope.has('orders:refund')).toBe(false);
  });

  it('gives each token the scope set of its own scope text, read-only, whether or not that text was seen before', async () => {
    const [a, b] = [await v.verify(await w.forge({ claims: { scope: 'tickets:read' } })), await v.verify(await w.forge({ claims: { scope: 'tickets:read' } }))];
    const c = await v.verify(await w.forge({ claims: { scope: 'orders:read  tickets:write' } }));
    expect([...a.scope]).toEqual(['tickets:read']);
    expect([...b.scope]).toEqual(['tickets:read']);
    expect([...c.scope]).toEqual(['orders:read', 'tickets:write']);
    for (const t of [a, b, c]) {
      expect(() => (t.scope as Set<string>).add('orders:refund')).toThrow(TypeError);
      expect(() => (t.scope as Set<string>).delete('tickets:read')).toThrow(TypeError);
      expect(() => (t.scope as Set<string>).clear()).toThrow(TypeError);
      expect(Object.isFrozen(t.scope)).toBe(true);
    }
    expect(a.scope.has('orders:refund') || b.scope.has('orders:refund') || c.scope.has('orders:refund')).toBe(false);
    expect(b.scope.has('tickets:write')).toBe(false);
  });

  it('with the JWKS fetched from the TTS (jwksUri) verifies too', async () => {
    const remote = createVerifier({ trustDomain: TRUST_DOMAIN, jwksUri: w.jwksUri });
    const t = await remote.verify(await w.exchange());
    expect(t.sub).toBe('alice');
    await remote.close();
  });

  it('used for many calls is verified once and is the same context (cache), revocation still checked each call', async () => {
    const store = new MemoryStore();
    const verifier = createVerifier({ trustDomain: TRUST_DOMAIN, jwks: w.jwks, store });
    const token = await w.exchange();
    const a = await verifier.verify(token);
    const b = await verifier.verify(token);
    expect(b).toBe(a);
    await store.revoke(a.txn, a.exp);
    await expectCode(verifier, token, 'revoked', 'revoked');
    await verifier.close();
    await store.close();
  });

  it('a cached token is refused once it expires (the cache never outlives exp)', async () => {
    let clock = Date.now();
    const verifier = createVerifier({ trustDomain: TRUST_DOMAIN, jwks: w.jwks, now: () => clock });
    const now = Math.floor(clock / 1000);
    const token = await w.forge({ claims: { iat: now, exp: now + 60 } });
    const first = await verifier.verify(token);
    expect(await verifier.verify(token)).toBe(first);
    clock += 60_000 + 31_000; // past exp and the 30 s tolerance
    await expectCode(verifier, token, 'expired', 'expired');
    await verifier.close();
  });

  it('the cache is bounded: the least recently used token is verified again', async () => {
    const verifier = createVerifier({ trustDomain: TRUST_DOMAIN, jwks: w.jwks, cacheSize: 2 });
    const [t1, t2, t3] = [await w.forge(), await w.forge(), await w.forge()];
    const c1 = await verifier.verify(t1);
    const c2 = await verifier.verify(t2);
    expect(await verifier.verify(t1)).toBe(c1); // t1 is now the most recently used
    await verifier.verify(t3); // evicts t2
    expect(await verifier.verify(t1)).toBe(c1);
    const again = await verifier.verify(t2);
    expect(again).not.toBe(c2);
    expect(again.txn).toBe(c2.txn);
    await verifier.close();
  });

  it('identical tokens verified concurrently share one verification', async () => {
    const verifier = createVerifier({ trustDomain: TRUST_DOMAIN, jwks: w.jwks });
    const token = await w.forge();
    const all = await Promise.all(Array.from({ length: 10 }, () => verifier.verify(token)));
    for (const c of all) expect(c).toBe(all[0]);
    await verifier.close();
  });

  it('a tampered copy of a cached token is still refused (the cache compares the whole token)', async () => {
    const token = await w.exchange();
    await v.verify(token);
    await expectCode(v, tamperPayload(token, (c) => ({ ...c, sub: 'bob' })), 'bad_signature', 'bad_signature');
  });

  it('V-05 a clock skew within the tolerance is accepted (iat 20 s ahead)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const t = await v.verify(await w.forge({ claims: { iat: now + 20 } }));
    expect(t.sub).toBe('alice');
  });
});

describe('V-01 the Txn-Token header', () => {
  it('missing: no header', async () => {
    await expectCode(v, undefined, 'missing', 'header.missing');
    await expectCode(v, null, 'missing', 'header.missing');
  });
  it('missing: empty header', async () => {
    await expectCode(v, '', 'missing', 'header.empty');
  });
  it('multiple: two tokens comma-joined (two headers)', async () => {
    const a = await w.exchange();
    const b = await w.exchange();
    await expectCode(v, `${a}, ${b}`, 'multiple', 'header.multiple');
    await expectCode(v, `${a},${a}`, 'multiple', 'header.multiple');
  });
  it('malformed: two tokens separated by whitespace', async () => {
    const a = await w.exchange();
    await expectCode(v, `${a} ${a}`, 'malformed', 'header.whitespace');
  });
  it('malformed: a Bearer prefix', async () => {
    await expectCode(v, `Bearer ${await w.exchange()}`, 'malformed', 'header.bearer');
    await expectCode(v, `bearer ${await w.exchange()}`, 'malformed', 'header.bearer');
  });
  it('malformed: truncated token', async () => {
    const t = await w.exchange();
    await expectCode(v, t.slice(0, t.lastIndexOf('.')), 'malformed', 'header.not_jws');
    await expectCode(v, t.slice(0, t.length - 10), 'bad_signature', 'bad_signature');
  });
  it('malformed: not base64url JSON', async () => {
    await expectCode(v, 'abc.def.ghi', 'malformed', 'malformed');
  });
});

describe('V-02 signature and keys', () => {
  it('bad_signature: tampered payload', async () => {
    const t = await w.exchange();
    await expectCode(v, tamperPayload(t, (c) => ({ ...c, scope: 'tickets:read orders:read orders:refund' })), 'bad_signature', 'bad_signature');
  });
  it('bad_algorithm: alg none', async () => {
    const now = Math.floor(Date.now() / 1000);
    const t = rawJwt({ alg: 'none', typ: 'txntoken+jwt' }, { iss: w.tts.issuer, aud: TRUST_DOMAIN, iat: now, exp: now + 60, txn: 'x', sub: 'alice', scope: 'tickets:read', req_wl: 'w' });
    await expectCode(v, `${t}`.replace(/\.$/, '.AAAA'), 'bad_algorithm', 'bad_algorithm');
  });
  it('bad_algorithm: HS256 with the public key as the HMAC secret', async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: w.tts.issuer, aud: TRUST_DOMAIN, iat: now, exp: now + 60, txn: 'x', sub: 'alice', scope: 'tickets:read', req_wl: 'w' };
    const pub = w.jwks.keys[0]!;
    await expectCode(v, hmacJwt({ typ: 'txntoken+jwt', kid: pub.kid }, claims, JSON.stringify(pub)), 'bad_algorithm', 'bad_algorithm');
    await expectCode(v, hmacJwt({ typ: 'txntoken+jwt', kid: pub.kid }, claims, Buffer.from(pub.x!, 'base64url')), 'bad_algorithm', 'bad_algorithm');
  });
  it('bad_signature: a jwk header carrying the attacker key (with the real kid) is ignored', async () => {
    const attacker = await generateSigningJwk('EdDSA');
    const t = await w.forge({ jwk: attacker, header: { kid: w.signingJwk.kid, jwk: toPublicJwk(attacker) } });
    await expectCode(v, t, 'bad_signature', 'bad_signature');
  });
  it('bad_signature: a jwk header and no kid: the configured key set is used, not the header', async () => {
    const attacker = await generateSigningJwk('EdDSA');
    const t = await w.forge({ jwk: attacker, header: { jwk: toPublicJwk(attacker) }, omitHeader: ['kid'] });
    await expectCode(v, t, 'bad_signature', 'bad_signature');
  });
  it('jku / x5u headers pointing elsewhere are never fetched', async () => {
    const attacker = await generateSigningJwk('EdDSA');
    let fetched = 0;
    const { createServer } = await import('node:http');
    const evil = createServer((_req, res) => {
      fetched++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [toPublicJwk(attacker)] }));
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(evil.address() as { port: number }).port}/jwks.json`;
    try {
      await expectCode(v, await w.forge({ jwk: attacker, header: { kid: attacker.kid, jku: url } }), 'unknown_kid', 'unknown_kid');
      await expectCode(v, await w.forge({ jwk: attacker, header: { kid: w.signingJwk.kid, x5u: url } }), 'bad_signature', 'bad_signature');
      expect(fetched).toBe(0);
    } finally {
      await new Promise<void>((r) => evil.close(() => r()));
    }
  });
  it('unknown_kid: a kid the TTS never published', async () => {
    await expectCode(v, await w.forge({ header: { kid: 'no-such-kid' } }), 'unknown_kid', 'unknown_kid');
  });
  it("a token signed by another TTS's key is refused", async () => {
    const other = await generateSigningJwk('EdDSA');
    await expectCode(v, await w.forge({ jwk: other }), 'unknown_kid', 'unknown_kid');
    // same kid as ours, other key
    await expectCode(v, await w.forge({ jwk: { ...other, kid: w.signingJwk.kid } }), 'bad_signature', 'bad_signature');
  });
  it('unknown_kid with a remote JWKS: refetched at most once per cool-down', async () => {
    let fetches = 0;
    const remote = createVerifier({
      trustDomain: TRUST_DOMAIN,
      jwksUri: w.jwksUri,
      jwksCooldownMs: 60_000,
    });
    const orig = globalThis.fetch;
    globalThis.fetch = ((input: RequestInfo | URL, init?: RequestInit) => {
      if (String(input instanceof Request ? input.url : input).includes('/.well-known/jwks.json')) fetches++;
      return orig(input, init);
    }) as typeof fetch;
    try {
      await remote.verify(await w.exchange());
      expect(fetches).toBe(1);
      await expectCode(remote, await w.forge({ header: { kid: 'rotated-away' } }), 'unknown_kid', 'unknown_kid');
      await expectCode(remote, await w.forge({ header: { kid: 'rotated-away-2' } }), 'unknown_kid', 'unknown_kid');
      await expectCode(remote, await w.forge({ header: { kid: 'rotated-away-3' } }), 'unknown_kid', 'unknown_kid');
      expect(fetches).toBeLessThanOrEqual(2);
    } finally {
      globalThis.fetch = orig;
      await remote.close();
    }
  });
  it('unavailable (503): the JWKS cannot be fetched', async () => {
    const remote = createVerifier({ trustDomain: TRUST_DOMAIN, jwksUri: 'http://127.0.0.1:1/jwks.json' });
    await expectCode(remote, await w.exchange(), 'unavailable', 'key_unavailable');
    await remote.close();
  });
});

describe('V-02 key set outages are 503, not 401', () => {
  for (const [what, status, body] of [
    ['a 500 answer', 500, '{}'],
    ['a body that is not JSON', 200, 'not json'],
  ] as const) {
    it(`unavailable: the JWKS endpoint gives ${what}`, async () => {
      const { createServer } = await import('node:http');
      const broken = createServer((_req, res) => res.writeHead(status, { 'content-type': 'application/json' }).end(body));
      await new Promise<void>((r) => broken.listen(0, '127.0.0.1', () => r()));
      const remote = createVerifier({ trustDomain: TRUST_DOMAIN, jwksUri: `http://127.0.0.1:${(broken.address() as { port: number }).port}/jwks.json` });
      try {
        await expectCode(remote, await w.exchange(), 'unavailable', 'key_unavailable');
      } finally {
        await remote.close();
        await new Promise<void>((r) => broken.close(() => r()));
      }
    });
  }
});

describe('V-03 typ', () => {
  it('wrong_type: at+jwt', async () => {
    await expectCode(v, await w.forge({ header: { typ: 'at+jwt' } }), 'wrong_type', 'wrong_type');
  });
  it('wrong_type: JWT', async () => {
    await expectCode(v, await w.forge({ header: { typ: 'JWT' } }), 'wrong_type', 'wrong_type');
  });
  it('wrong_type: typ missing', async () => {
    await expectCode(v, await w.forge({ omitHeader: ['typ'] }), 'wrong_type', 'wrong_type');
  });
  it('wrong_type: a user access token from the IdP', async () => {
    await expectCode(v, await w.idp.mint(), 'wrong_type', 'wrong_type');
  });
});

describe('V-04..V-07 claims', () => {
  const now = () => Math.floor(Date.now() / 1000);
  it('V-04 wrong_audience: another trust domain', async () => {
    await expectCode(v, await w.forge({ claims: { aud: 'other.example' } }), 'wrong_audience', 'wrong_audience');
  });
  it('V-07 wrong_issuer: iss is not the configured TTS', async () => {
    await expectCode(v, await w.forge({ claims: { iss: 'https://evil.example' } }), 'wrong_issuer', 'wrong_issuer');
  });
  it('V-05 expired: exp in the past beyond the skew', async () => {
    await expectCode(v, await w.forge({ claims: { iat: now() - 600, exp: now() - 60 } }), 'expired', 'expired');
  });
  it('V-05 not_yet_valid: iat in the future beyond the skew', async () => {
    await expectCode(v, await w.forge({ claims: { iat: now() + 120, exp: now() + 300 } }), 'not_yet_valid', 'not_yet_valid');
  });
  it('V-05 clock tolerance is bounded: more than 60 s is refused at construction', () => {
    expect(() => createVerifier({ trustDomain: TRUST_DOMAIN, jwks: w.jwks, clockTolerance: 61 })).toThrow(/clockTolerance/);
    expect(() => createVerifier({ trustDomain: TRUST_DOMAIN, jwks: w.jwks, algorithms: ['HS256'] })).toThrow(/asymmetric/);
  });
  for (const claim of ['txn', 'sub', 'scope', 'req_wl', 'iat', 'exp'] as const) {
    it(`V-06 missing_claim: ${claim}`, async () => {
      await expectCode(v, await w.forge({ omit: [claim] }), 'missing_claim', `missing_claim.${claim}`);
    });
  }
  it('V-06 malformed: sub as a number', async () => {
    await expectCode(v, await w.forge({ claims: { sub: 42 } }), 'malformed', 'invalid_claim.sub');
  });
  it('V-06 malformed: a claim of the wrong type or empty (empty txn, scope as a number, req_wl as an object)', async () => {
    await expectCode(v, await w.forge({ claims: { txn: '' } }), 'malformed', 'invalid_claim.txn');
    await expectCode(v, await w.forge({ claims: { scope: 42 } }), 'malformed', 'invalid_claim.scope');
    await expectCode(v, await w.forge({ claims: { req_wl: { sub: 'mcp-support-agent' } } }), 'malformed', 'invalid_claim.req_wl');
  });
  it('malformed: an act chain whose outermost actor is not req_wl', async () => {
    await expectCode(v, await w.forge({ claims: { act: { sub: 'someone-else' } } }), 'malformed', 'invalid_claim.act');
  });
});

describe('V-08 revocation', () => {
  it('revoked: a transaction revoked at the TTS (shared store) is refused, also after it was cached', async () => {
    const verifier = createVerifier({ trustDomain: TRUST_DOMAIN, jwks: w.jwks, store: w.tts.node.store });
    const token = await w.exchange();
    const t = await verifier.verify(token);
    const replaced = await w.replace('orders-svc', token);
    const second = replaced.ok!.access_token;
    expect((await verifier.verify(second)).txn).toBe(t.txn);
    const res = await fetch(`${w.tts.url}/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`mcp-support-agent:verify-suite-secret-0123456789`).toString('base64')}` },
      body: new URLSearchParams({ token }).toString(),
    });
    expect(res.status).toBe(200);
    await expectCode(verifier, token, 'revoked', 'revoked');
    // another token of the same transaction (a replacement) is refused too
    await expectCode(verifier, second, 'revoked', 'revoked');
    await verifier.close();
  });

  it('unavailable (503): the store cannot answer (fail closed by default)', async () => {
    const { createStore } = await import('../../src/store/from-url.node.js');
    const dead = createStore({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 200, commandTimeoutMs: 200 });
    const verifier = createVerifier({ trustDomain: TRUST_DOMAIN, jwks: w.jwks, store: dead });
    try {
      await expectCode(verifier, await w.exchange(), 'unavailable', 'revocation_unavailable');
    } finally {
      await verifier.close();
      await dead.close();
    }
  });

  it("revocation: 'fail-open' accepts when the store is down, with one warning line naming the txn, never the token", async () => {
    const { createStore } = await import('../../src/store/from-url.node.js');
    const dead = createStore({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 200, commandTimeoutMs: 200 });
    const lines: string[] = [];
    const verifier = createVerifier({ trustDomain: TRUST_DOMAIN, jwks: w.jwks, store: dead, revocation: 'fail-open', warn: (l) => lines.push(l) });
    try {
      const token = await w.exchange();
      const t = await verifier.verify(token);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(t.txn);
      expect(lines[0]).not.toContain(token.split('.')[2]!);
      expect(lines[0]).not.toContain('\n');
    } finally {
      await verifier.close();
      await dead.close();
    }
  });
});

describe('V-09 replay guard', () => {
  it('replayed: the same transaction presented twice to a guarded service', async () => {
    const store = new MemoryStore();
    const verifier = createVerifier({ trustDomain: TRUST_DOMAIN, jwks: w.jwks, store, replayGuard: { namespace: 'payments' } });
    const token = await w.exchange();
    await verifier.verify(token);
    await expectCode(verifier, token, 'replayed', 'replayed');
    // another service (namespace) may still see it once
    const other = createVerifier({ trustDomain: TRUST_DOMAIN, jwks: w.jwks, store, replayGuard: { namespace: 'refunds' } });
    expect((await other.verify(token)).txn).toBeTruthy();
    await verifier.close();
    await other.close();
    await store.close();
  });
  it('without the guard the same token may be used for many calls', async () => {
    const token = await w.exchange();
    for (let i = 0; i < 3; i++) expect((await v.verify(token)).sub).toBe('alice');
  });
});

describe('V-11 decision log', () => {
  it('V-11 refusals are logged with the code, the reason, the hop name, and never the token', async () => {
    const entries: ServiceDecisionEntry[] = [];
    const verifier = createVerifier({ trustDomain: TRUST_DOMAIN, jwks: w.jwks, service: 'tickets', onDecision: (e) => entries.push(e) });
    const token = await w.forge({ claims: { aud: 'other.example' } });
    await expectCode(verifier, token, 'wrong_audience', 'wrong_audience');
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ hop: 'tickets', event: 'verify', effect: 'deny', error: 'wrong_audience', reason_code: 'wrong_audience' });
    expect(JSON.stringify(entries)).not.toContain(token.split('.')[2]!);
    await verifier.close();
  });
});


describe('the decision log (issue 7: stdout by default, pluggable, never a token)', () => {
  it('writes one JSON line per refusal to stdout by default, and nothing with onDecision: null', async () => {
    const token = tamperPayload(await w.exchange(), (c) => ({ ...c, sub: 'mallory' }));
    const stdout = memoryLines(); // what goes to standard output, whichever runtime's writer is installed
    const lines = stdout.lines;
    const writer = stdoutWriter();
    useStdoutWriter(stdout);
    try {
      await expect(createVerifier({ trustDomain: TRUST_DOMAIN, jwks: w.jwks, service: 'tickets' }).verify(token)).rejects.toBeInstanceOf(TxnTokenError);
      await expect(createVerifier({ trustDomain: TRUST_DOMAIN, jwks: w.jwks, onDecision: null }).verify(token)).rejects.toBeInstanceOf(TxnTokenError);
    } finally {
      useStdoutWriter(writer);
    }
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ hop: 'tickets', event: 'verify', effect: 'deny' });
    expect(lines[0]).not.toContain(token);
    expect(lines[0]).not.toContain(token.split('.')[2]!);
  });
});
