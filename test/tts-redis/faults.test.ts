/**
 * The TTS under a Redis outage, against a private redis-server this test kills (SIGKILL) and restarts on the same
 * port: during a burst of private_key_jwt exchanges every answer is 200 or 503 temporarily_unavailable, nothing hangs,
 * no unhandled rejection, and no token is issued without a successful single-use check of its assertion's jti;
 * /healthz says the store is down; once Redis is back the same TTS serves again without a restart. The verifier side
 * (src/verify createVerifier and a RevocationCache on their own RedisStore) fails closed while Redis is down ('unavailable';
 * fail-open when configured, with a warning) and recovers by itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/store/redis.js';
import { RevocationCache } from '../../src/store/revocation-cache.js';
import { StoreUnavailableError, type RateLimitCheck, type Store } from '../../src/store/types.js';
import { createVerifier, type Verifier } from '../../src/verify/index.js';
import { claimsOf } from '../helpers/jwt.js';
import { basic, TRUST_DOMAIN } from '../helpers/names.js';
import { hasRedisServer, type PrivateRedis, startPrivateRedis, testPrefix } from '../helpers/redis.js';
import { eventually } from '../helpers/time.js';
import { expectLoggedRefusal, startTts, type TestTts } from '../helpers/tts.js';
import { accessToken, BASIC_SECRET, clientAssertionOf, exchangeForm, type Fixture, getJson, makeFixture, post, type Reply, TTS_ISSUER, ttsConfig, verdict, withAssertion } from '../helpers/world-redis.js';

const canSpawn = await hasRedisServer();
if (!canSpawn) console.warn('[tts-redis faults] skipped: no redis-server binary to start a private Redis');

/** Per-request bound far above the store's own (1 s): reaching it means the TTS hung. Not a timing assertion. */
const HANG_MS = 10_000;

/** Delegates to a RedisStore and records every jti whose single-use check succeeded (resolved true). */
class RecordingStore implements Store {
  readonly backend: string;
  readonly confirmed = new Set<string>();
  constructor(readonly inner: RedisStore) {
    this.backend = inner.backend;
  }
  async useOnce(namespace: string, id: string, ttlMs: number): Promise<boolean> {
    const first = await this.inner.useOnce(namespace, id, ttlMs);
    if (first && namespace === 'client_assertion') this.confirmed.add(id.slice(id.indexOf('\u0000') + 1));
    return first;
  }
  revoke(txn: string, until: number): Promise<void> {
    return this.inner.revoke(txn, until);
  }
  isRevoked(txn: string): Promise<boolean> {
    return this.inner.isRevoked(txn);
  }
  rateLimit(key: string, limit: number, windowMs: number) {
    return this.inner.rateLimit(key, limit, windowMs);
  }
  rateLimitAll(checks: readonly RateLimitCheck[]) {
    return this.inner.rateLimitAll(checks);
  }
  health() {
    return this.inner.health();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

interface Outcome {
  jti: string;
  sentAt: number;
  reply?: Reply;
  thrown?: string;
}

describe.skipIf(!canSpawn)('TTS with a Redis that dies and comes back', () => {
  let f: Fixture;
  let server: PrivateRedis;
  let tts: TestTts;
  /** a second TTS whose store comes from `config.store` (string form), its diagnostics through `say` */
  let wired: TestTts;
  const said: string[] = [];
  let store: RecordingStore;
  let verifierStore: RedisStore;
  let cache: RevocationCache;
  let verifier: Verifier;
  let openVerifier: Verifier;
  const warnings: string[] = [];
  let revokedBeforeToken: string;
  let liveToken: string;
  let subjectForm: URLSearchParams;
  let revokedBefore: string;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    f = await makeFixture();
    server = await startPrivateRedis();
    const keyPrefix = testPrefix('tts-faults');
    store = new RecordingStore(new RedisStore({ url: server.url, keyPrefix, logger: () => {} }));
    tts = await startTts({ config: ttsConfig(f, 'memory'), ...{ store } });
    wired = await startTts({ config: ttsConfig(f, server.url), ...{ say: (m) => said.push(m) } });
    verifierStore = new RedisStore({ url: server.url, keyPrefix, logger: () => {} });
    cache = new RevocationCache(verifierStore);
    const jwks = tts.node.service.keys.jwks();
    verifier = createVerifier({ trustDomain: TRUST_DOMAIN, issuer: TTS_ISSUER, jwks, store: verifierStore, service: 'orders' });
    openVerifier = createVerifier({
      trustDomain: TRUST_DOMAIN, issuer: TTS_ISSUER, jwks, store: verifierStore, revocation: 'fail-open', service: 'search', warn: (l) => warnings.push(l),
    });
    subjectForm = exchangeForm(await accessToken(f));
  });

  afterAll(async () => {
    cache?.close();
    await verifier?.close();
    await openVerifier?.close();
    await verifierStore?.close();
    await tts?.close();
    await wired?.close();
    await server?.stop(); // private and non-persistent: nothing to clean
    f?.cleanup();
    process.off('unhandledRejection', onUnhandled);
  });

  const exchangeJwt = async (jti?: string): Promise<Reply> =>
    post(tts.url, '/token', withAssertion(subjectForm, await clientAssertionOf(f, jti)), undefined, HANG_MS);

  it('while Redis is up: exchanges, a revocation reaches the verifier-side cache', async () => {
    expect((await exchangeJwt()).status).toBe(200);
    expect((await getJson(tts.url, '/healthz')).status).toBe(200);
    expect(await eventually(() => verifierStore.revocationFeedLive(), 5000)).toBe(true);
    const r = await post(tts.url, '/token', subjectForm, basic('agent-basic', BASIC_SECRET));
    revokedBeforeToken = r.body!.access_token as string;
    revokedBefore = (claimsOf(revokedBeforeToken).txn as string);
    liveToken = (await post(tts.url, '/token', subjectForm, basic('agent-basic', BASIC_SECRET))).body!.access_token as string;
    expect(await verdict(verifier, revokedBeforeToken)).toBe('accepted');
    expect((await post(tts.url, '/revoke', new URLSearchParams({ txn: revokedBefore }), basic('ops-revoker', BASIC_SECRET))).status).toBe(200);
    expect(await eventually(() => cache.isRevokedLocal(revokedBefore) === true, 1000)).toBe(true);
    expect(await eventually(async () => (await verdict(verifier, revokedBeforeToken)) === 'revoked', 1000)).toBe(true);
    expect(await verdict(verifier, liveToken)).toBe('accepted');
    expect(await verdict(openVerifier, liveToken)).toBe('accepted');
  });

  it('Redis killed during a burst: only 200 or 503, no hang, every 200 had its jti recorded, none after the kill', async () => {
    const outcomes: Outcome[] = [];
    let running = true;
    const worker = async (): Promise<void> => {
      while (running) {
        const jti = crypto.randomUUID();
        const o: Outcome = { jti, sentAt: Date.now() };
        outcomes.push(o);
        try {
          o.reply = await exchangeJwt(jti);
        } catch (e) {
          o.thrown = e instanceof Error ? e.name : 'error';
        }
      }
    };
    const workers = Array.from({ length: 6 }, () => worker());
    expect(await eventually(() => outcomes.filter((o) => o.reply?.status === 200).length >= 20, 20_000)).toBe(true);
    await server.stop();
    const deadAt = Date.now();
    // Keep the burst going until 30 requests sent after the kill have been answered.
    const afterKill = (): Outcome[] => outcomes.filter((o) => o.sentAt > deadAt && (o.reply !== undefined || o.thrown !== undefined));
    const enough = await eventually(() => afterKill().length >= 30, 30_000);
    running = false;
    await Promise.all(workers);
    expect(enough).toBe(true);

    const statuses = new Map<number | string, number>();
    for (const o of outcomes) {
      const k = o.reply?.status ?? `thrown:${o.thrown}`;
      statuses.set(k, (statuses.get(k) ?? 0) + 1);
    }
    console.info(`[tts-redis faults] burst: ${outcomes.length} requests, ${afterKill().length} sent after the kill, statuses ${JSON.stringify([...statuses])}`);
    expect([...statuses.keys()].every((k) => k === 200 || k === 503), `statuses ${JSON.stringify([...statuses])}`).toBe(true);
    for (const o of outcomes.filter((x) => x.reply?.status === 503)) {
      expect(o.reply?.body?.error).toBe('temporarily_unavailable');
      expect(typeof o.reply?.body?.error_description).toBe('string');
    }
    const ok = outcomes.filter((o) => o.reply?.status === 200);
    // No token without a successful single-use check of its jti...
    expect(ok.filter((o) => !store.confirmed.has(o.jti)).map((o) => o.jti)).toEqual([]);
    // ...and none for a request sent once Redis was confirmed dead.
    expect(ok.filter((o) => o.sentAt > deadAt)).toEqual([]);
    expect(afterKill().every((o) => o.reply?.status === 503)).toBe(true);
    expect(unhandled).toEqual([]);
  }, 90_000);

  it('Redis down: /healthz 503 with store ok:false; /token and /revoke say temporarily_unavailable', async () => {
    const h = await getJson(tts.url, '/healthz');
    expect(h.status).toBe(503);
    const st = h.body.store as { ok?: unknown; backend?: unknown };
    expect(st.ok).toBe(false);
    expect(st.backend).toBe('redis');
    // client_secret_basic needs no jti check, but the rate limit cannot be counted: fail closed.
    const basicEx = await post(tts.url, '/token', subjectForm, basic('agent-basic', BASIC_SECRET), HANG_MS);
    expect(basicEx.status).toBe(503);
    expect(basicEx.body?.error).toBe('temporarily_unavailable');
    expectLoggedRefusal('temporarily_unavailable', 'limit.unavailable');
    const rv = await post(tts.url, '/revoke', new URLSearchParams({ txn: crypto.randomUUID() }), basic('ops-revoker', BASIC_SECRET), HANG_MS);
    expect(rv.status).toBe(503);
    expect(rv.body?.error).toBe('temporarily_unavailable');
    expectLoggedRefusal('temporarily_unavailable', 'limit.unavailable');

    // The TTS wired from config.store reports the same, and tells the operator through its own channel.
    expect((await getJson(wired.url, '/healthz')).status).toBe(503);
    expect((await post(wired.url, '/token', subjectForm, basic('agent-basic', BASIC_SECRET), HANG_MS)).status).toBe(503);
    expect(await eventually(() => said.some((l) => l.includes('store redis')), 5000)).toBe(true);
    expect(said.filter((l) => l.includes(`:${server.port}`) && l.includes('redis://'))).toEqual([]);
  });

  it('Redis down: the verifier-side revocation check fails closed (known revocations still refused)', async () => {
    expect(await eventually(() => !verifierStore.revocationFeedLive(), 5000)).toBe(true);
    expect(cache.isRevokedLocal(crypto.randomUUID())).toBeUndefined();
    await expect(cache.isRevoked(crypto.randomUUID())).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(await cache.isRevoked(revokedBefore)).toBe(true);

    // The verifier (fail-closed, the default): a token it cannot check is refused as unavailable (503), a known
    // revocation is still refused as revoked.
    let refusal: unknown;
    try {
      await verifier.verify(liveToken);
    } catch (e) {
      refusal = e;
    }
    expect((refusal as { code?: unknown }).code).toBe('unavailable');
    expect((refusal as { status?: unknown }).status).toBe(503);
    expect(await verdict(verifier, revokedBeforeToken)).toBe('revoked');
    // Configured fail-open: accepted, with a warning naming the txn (never the token).
    expect(await verdict(openVerifier, liveToken)).toBe('accepted');
    expect(warnings.some((w) => w.includes((claimsOf(liveToken).txn as string)))).toBe(true);
    expect(warnings.some((w) => w.includes(liveToken))).toBe(false);
    expect(await verdict(openVerifier, revokedBeforeToken)).toBe('revoked');
  });

  it('Redis back on the same port: the same TTS and cache recover without a restart', async () => {
    await server.start();
    const recovered = await eventually(async () => (await exchangeJwt()).status === 200, 20_000, 200);
    expect(recovered).toBe(true);
    // The single-use check works again (it is not skipped after recovery).
    const jti = crypto.randomUUID();
    expect((await exchangeJwt(jti)).status).toBe(200);
    const replay = await exchangeJwt(jti);
    expect(replay.status).toBe(401);
    expect(replay.body?.error).toBe('invalid_client');
    expect((await getJson(tts.url, '/healthz')).status).toBe(200);
    expect(await eventually(async () => (await post(wired.url, '/token', subjectForm, basic('agent-basic', BASIC_SECRET))).status === 200, 10_000, 200)).toBe(true);

    expect(await eventually(() => verifierStore.revocationFeedLive(), 10_000, 100)).toBe(true);
    expect(await cache.isRevoked(crypto.randomUUID())).toBe(false);
    const r = await post(tts.url, '/token', subjectForm, basic('agent-basic', BASIC_SECRET));
    expect(r.status).toBe(200);
    const txn = (claimsOf(r.body!.access_token as string).txn as string);
    expect((await post(tts.url, '/revoke', new URLSearchParams({ token: r.body!.access_token as string }), basic('agent-basic', BASIC_SECRET))).status).toBe(200);
    expect(await eventually(() => cache.isRevokedLocal(txn) === true, 1000)).toBe(true);
    // The verifier recovers by itself: accepts again, and refuses the new revocation.
    expect(await verdict(verifier, liveToken)).toBe('accepted');
    expect(await eventually(async () => (await verdict(verifier, r.body!.access_token as string)) === 'revoked', 1000)).toBe(true);
    expect(unhandled).toEqual([]);
  }, 60_000);
});
