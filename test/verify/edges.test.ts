/**
 * The verifier at the edges its end-to-end tests (test/verify/verifier.test.ts, over a real TTS) do not reach (found by
 * mutation testing, docs/mutation.md): every option refused at construction, the header's remaining refusals, a closed
 * verifier, and the store checks' failures (V-08, V-09), each refusal pinned to its reason code. Tokens are signed here
 * with a key of the test's own, as the TTS signs them.
 */
import { importJWK, SignJWT, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateSigningJwk, toPublicJwk } from '../../src/jose/keys.js';
import { MAX_TXN_TOKEN_CHARS } from '../../src/jose/json-bounds.js';
import { MemoryStore } from '../../src/store/memory.js';
import { StoreUnavailableError } from '../../src/store/types.js';
import { createVerifier, TxnTokenError, type ServiceDecisionEntry, type Verifier, type VerifierOptions } from '../../src/verify/index.js';
import { TRUST_DOMAIN } from '../helpers/names.js';

let signing: JWK;
let jwks: { keys: object[] };
const T0 = 1_800_000_000; // seconds: the verifiers here run on a fixed clock

beforeAll(async () => {
  signing = await generateSigningJwk('EdDSA');
  jwks = { keys: [toPublicJwk(signing)] };
});

async function token(txn = 'txn-1', exp = T0 + 300): Promise<string> {
  return new SignJWT({ txn, scope: 'tickets:read', req_wl: 'mcp', act: { sub: 'mcp' } })
    .setProtectedHeader({ alg: 'EdDSA', kid: signing.kid!, typ: 'txntoken+jwt' })
    .setSubject('alice').setAudience(TRUST_DOMAIN).setIssuedAt(T0).setExpirationTime(exp)
    .sign(await importJWK(signing, 'EdDSA'));
}

function verifier(o: Partial<VerifierOptions> = {}): Verifier {
  return createVerifier({ trustDomain: TRUST_DOMAIN, jwks, onDecision: null, now: () => T0 * 1000, ...o });
}

async function refusal(p: Promise<unknown>): Promise<TxnTokenError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(TxnTokenError);
    return e as TxnTokenError;
  }
  throw new Error('the token was accepted');
}

describe('options refused at construction (a TypeError naming the option)', () => {
  it('trustDomain, jwks/jwksUri, algorithms, clockTolerance, replayGuard', () => {
    const make = (o: Partial<VerifierOptions>) => () => createVerifier({ trustDomain: TRUST_DOMAIN, jwks, onDecision: null, ...o });
    for (const trustDomain of ['', [], [''], ['support.example', ''], [42 as unknown as string]]) expect(make({ trustDomain })).toThrow(/trustDomain is required/);
    expect(make({ jwksUri: 'https://tts.example/jwks' })).toThrow(/exactly one of jwks or jwksUri/);
    expect(make({ jwks: undefined })).toThrow(/exactly one of jwks or jwksUri/);
    for (const algorithms of [[], ['none'], ['HS256'], ['EdDSA', 'HS512']]) expect(make({ algorithms })).toThrow(/algorithms must be asymmetric/);
    for (const clockTolerance of [-1, 60.5, 61, Number.NaN, Number.POSITIVE_INFINITY]) expect(make({ clockTolerance })).toThrow(/clockTolerance/);
    expect(make({ replayGuard: { namespace: 'payments' } })).toThrow(/replayGuard needs a store/);
    expect(make({ store: new MemoryStore(), replayGuard: { namespace: '' } })).toThrow(/replayGuard.namespace is required/);
    expect(make({ store: new MemoryStore(), replayGuard: { namespace: 42 as unknown as string } })).toThrow(/replayGuard.namespace is required/);
    // the edges that are allowed
    for (const ok of [{ clockTolerance: 0 }, { clockTolerance: 60 }, { trustDomain: ['a.example', 'b.example'] }, { algorithms: ['ES512', 'PS256', 'RS256'] }]) expect(make(ok)).not.toThrow();
  });

  it('cacheSize and cacheMaxBytes: negative is 0 (no cache), fractions round down', async () => {
    const t = await token();
    for (const [o, entries] of [[{ cacheSize: -5 }, 0], [{ cacheSize: 0.9 }, 0], [{ cacheSize: 1.9 }, 1], [{ cacheMaxBytes: -1 }, 0]] as const) {
      const v = verifier(o);
      await v.verify(t);
      expect(v.cacheStats().entries).toBe(entries);
      await v.close();
    }
  });
});

describe('V-01 the header: the refusals the end-to-end tests do not reach', () => {
  it('not a string, too large, lower-case bearer; surrounding whitespace is not part of the token', async () => {
    const v = verifier();
    const t = await token();
    const notString = await refusal(v.verify(42 as unknown as string));
    expect([notString.name, notString.code, notString.reason, notString.status]).toEqual(['TxnTokenError', 'malformed', 'header.not_string', 401]);
    const big = `${'a'.repeat(MAX_TXN_TOKEN_CHARS - 4)}.b.c`;
    expect(big.length).toBe(MAX_TXN_TOKEN_CHARS);
    expect((await refusal(v.verify(big))).reason).toBe('malformed'); // as large as allowed: past the header check, refused by the profile
    const tooLarge = await refusal(v.verify(`a${big}`));
    expect([tooLarge.code, tooLarge.reason]).toEqual(['malformed', 'header.too_large']);
    // exactly as large as allowed but not a compact JWS: not_jws, not too_large
    expect((await refusal(v.verify('a'.repeat(MAX_TXN_TOKEN_CHARS)))).reason).toBe('header.not_jws');
    expect((await refusal(v.verify(`bearer ${t}`))).reason).toBe('header.bearer');
    expect((await refusal(v.verify(`${t}\t${t}`))).reason).toBe('header.whitespace');
    expect((await refusal(v.verify(`${t} bearer ${t}`))).reason).toBe('header.whitespace'); // a Bearer prefix only at the start
    expect((await refusal(v.verify(`${t}.x`))).reason).toBe('header.not_jws');
    expect((await v.verify(` ${t}\t`)).token).toBe(t);
    await v.close();
  });
});

describe('a closed verifier', () => {
  it('refuses every token as unavailable (reason closed), and logs it', async () => {
    const entries: ServiceDecisionEntry[] = [];
    const v = verifier({ onDecision: (e) => entries.push(e), service: 'tickets' });
    const t = await token();
    expect((await v.verify(t)).txn).toBe('txn-1');
    await v.close();
    const e = await refusal(v.verify(t));
    expect([e.code, e.reason, e.status]).toEqual(['unavailable', 'closed', 503]);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ hop: 'tickets', event: 'verify', effect: 'deny', error: 'unavailable', reason_code: 'closed' });
  });
});

/** A memory store whose revocation or single-use operations fail (the fault is a real exception from the store). */
class FailingStore extends MemoryStore {
  constructor(readonly fail: { isRevoked?: Error; useOnce?: Error }) {
    super({ now: () => T0 * 1000 });
  }
  override async isRevoked(txn: string): Promise<boolean> {
    if (this.fail.isRevoked) throw this.fail.isRevoked;
    return super.isRevoked(txn);
  }
  override async useOnce(namespace: string, id: string, ttlMs: number): Promise<boolean> {
    if (this.fail.useOnce) throw this.fail.useOnce;
    return super.useOnce(namespace, id, ttlMs);
  }
}

describe('V-08 V-09 the store checks', () => {
  it("V-08 'fail-open' covers an unavailable store only: any other store failure still refuses (revocation_unavailable)", async () => {
    const warned: string[] = [];
    const v = verifier({ store: new FailingStore({ isRevoked: new TypeError('a bug in the store') }), revocation: 'fail-open', warn: (l) => warned.push(l) });
    const e = await refusal(v.verify(await token()));
    expect([e.code, e.reason]).toEqual(['unavailable', 'revocation_unavailable']);
    expect(warned).toEqual([]);
    await v.close();
  });

  it('V-08 a revoked transaction is refused, and the log names who (txn, sub, workload, chain)', async () => {
    const store = new MemoryStore({ now: () => T0 * 1000 });
    const entries: ServiceDecisionEntry[] = [];
    const v = verifier({ store, onDecision: (e) => entries.push(e) });
    await store.revoke('txn-1', T0 + 600);
    const e = await refusal(v.verify(await token()));
    expect([e.code, e.reason, e.status]).toEqual(['revoked', 'revoked', 401]);
    expect(entries[0]).toMatchObject({ event: 'verify', effect: 'deny', txn: 'txn-1', sub: 'alice', workload: 'mcp', chain: ['mcp'], error: 'revoked', reason_code: 'revoked' });
    await v.close();
  });

  it('V-09 the replay guard keeps a txn until its exp plus the clock tolerance, in the namespace replay:<namespace>', async () => {
    const calls: Array<[string, string, number]> = [];
    class Recording extends MemoryStore {
      override async useOnce(namespace: string, id: string, ttlMs: number): Promise<boolean> {
        calls.push([namespace, id, ttlMs]);
        return super.useOnce(namespace, id, ttlMs);
      }
    }
    const v = verifier({ store: new Recording({ now: () => T0 * 1000 }), replayGuard: { namespace: 'payments' }, clockTolerance: 10 });
    const t = await token('txn-r', T0 + 300);
    await v.verify(t);
    expect((await refusal(v.verify(t))).reason).toBe('replayed');
    expect(calls).toEqual([
      ['replay:payments', 'txn-r', (300 + 10) * 1000],
      ['replay:payments', 'txn-r', (300 + 10) * 1000],
    ]);
    await v.close();
  });

  it('V-09 a replay store that cannot answer refuses (replay_unavailable), never accepts', async () => {
    const v = verifier({ store: new FailingStore({ useOnce: new StoreUnavailableError('down') }), replayGuard: { namespace: 'payments' } });
    const e = await refusal(v.verify(await token()));
    expect([e.code, e.reason, e.status]).toEqual(['unavailable', 'replay_unavailable', 503]);
    await v.close();
  });
});

describe('a failure of the service’s own parts', () => {
  it('a clock that throws: refused as unavailable (503, reason internal), never accepted', async () => {
    const t = await token();
    let broken = false;
    const v = verifier({
      now: () => {
        if (broken) throw new RangeError('clock gone');
        return T0 * 1000;
      },
    });
    broken = true;
    const e = await refusal(v.verify(t));
    expect([e.code, e.reason, e.status]).toEqual(['unavailable', 'internal', 503]);
    expect(e.cause).toBeInstanceOf(RangeError);
    await v.close();
  });
});

/** A memory store with a revocation push (as the Redis store has): revocations are pushed to listeners; reads may fail. */
class PushingStore extends MemoryStore {
  readonly #listeners = new Set<(txn: string, until: number) => void>();
  readsDown = false;
  reads = 0;
  constructor(readonly live: boolean) {
    super({ now: () => T0 * 1000 });
  }
  override onRevoke(listener: (txn: string, until: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  revocationFeedLive(): boolean {
    return this.live;
  }
  override async revoke(txn: string, untilEpochSec: number): Promise<void> {
    await super.revoke(txn, untilEpochSec);
    for (const l of this.#listeners) l(txn, untilEpochSec);
  }
  override async isRevoked(txn: string): Promise<boolean> {
    this.reads++;
    if (this.readsDown) throw new StoreUnavailableError('down');
    return super.isRevoked(txn);
  }
}

describe('V-08 with a store that pushes revocations', () => {
  it('a revocation heard on the push is refused without a store read, even when the store is down and fail-open', async () => {
    const store = new PushingStore(false);
    const warned: string[] = [];
    const v = verifier({ store, revocation: 'fail-open', warn: (l) => warned.push(l) });
    await store.revoke('txn-1', T0 + 600);
    store.readsDown = true;
    const e = await refusal(v.verify(await token('txn-1')));
    expect([e.code, e.reason]).toEqual(['revoked', 'revoked']);
    expect(store.reads).toBe(0);
    // a txn the push did not name: the store is asked (the feed promises nothing here), and fail-open accepts with a warning
    expect((await v.verify(await token('txn-2'))).txn).toBe('txn-2');
    expect(store.reads).toBe(1);
    expect(warned).toHaveLength(1);
    await v.close();
  });

  it('with the feed live, a miss is "not revoked" without a store read', async () => {
    const store = new PushingStore(true);
    const v = verifier({ store });
    store.readsDown = true;
    expect((await v.verify(await token('txn-3'))).txn).toBe('txn-3');
    expect(store.reads).toBe(0);
    await v.close();
  });
});

describe('the verifier’s clock and name reach its parts', () => {
  it('a pushed revocation ends by the verifier’s clock, not the wall clock', async () => {
    let now = T0 * 1000;
    const store = new PushingStore(true);
    const v = verifier({ store, now: () => now });
    await store.revoke('txn-e', T0 + 600);
    const t = await token('txn-e', T0 + 3600);
    expect((await refusal(v.verify(t))).reason).toBe('revoked');
    now = (T0 + 700) * 1000; // past the revocation's end on the verifier's clock (the wall clock is years before T0)
    expect((await v.verify(t)).txn).toBe('txn-e');
    await v.close();
  });

  it('decision entries are named `service` when no service name is given', async () => {
    const entries: ServiceDecisionEntry[] = [];
    const v = verifier({ onDecision: (e) => entries.push(e) });
    await refusal(v.verify(undefined));
    expect(entries[0]).toMatchObject({ hop: 'service', event: 'verify', reason_code: 'header.missing' });
    await v.close();
  });
});
