// A misconfigured Worker never crashes: every request gets 503 with an OAuth-style error naming the field.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import committed from '../../policies.bundle.json';
import { parseConfig } from '../../src/config/schema.js';
import { createWorker, type WorkerEnv } from '../../src/worker.js';
import { BASE } from '../helpers/workers.js';

const goodConfig = () => JSON.parse(env.BATON_CONFIG) as Record<string, unknown>;
function workerEnv(over: Record<string, unknown> = {}): WorkerEnv {
  return {
    BATON_CONFIG: env.BATON_CONFIG,
    BATON_SIGNING_KEYS: env.BATON_SIGNING_KEYS,
    BATON_STORE: 'durable-object',
    BATON_STORE_DO: env.BATON_STORE_DO,
    BATON_DECISION_LOG: 'off',
    TEST_ORDERS_SECRET: env.TEST_ORDERS_SECRET,
    ...over,
  } as WorkerEnv;
}

/** Two different requests to a fresh Worker: both must be the same 503; returns the error_description. */
async function misconfigured(e: WorkerEnv, ...bundleArg: [unknown?]): Promise<string> {
  const w = createWorker(bundleArg.length > 0 ? bundleArg[0] : committed);
  const descriptions: string[] = [];
  for (const req of [
    new Request(`${BASE}/.well-known/jwks.json`),
    new Request(`${BASE}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=x' }),
  ]) {
    const res = await w.fetch(req, e);
    expect(res.status).toBe(503);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const b = (await res.json()) as { error: string; error_description: string };
    expect(b.error).toBe('temporarily_unavailable');
    descriptions.push(b.error_description);
  }
  expect(descriptions[1]).toBe(descriptions[0]);
  return descriptions[0]!;
}

describe('configuration from bindings', () => {
  it('the test configuration itself starts (control)', async () => {
    const res = await createWorker(committed).fetch(new Request(`${BASE}/.well-known/oauth-authorization-server`), workerEnv());
    expect(res.status).toBe(200);
  });

  it('BATON_CONFIG missing or not JSON', async () => {
    expect(await misconfigured(workerEnv({ BATON_CONFIG: undefined }))).toMatch(/^Baton is misconfigured: BATON_CONFIG: not set/);
    expect(await misconfigured(workerEnv({ BATON_CONFIG: '{"issuer": ' }))).toMatch(/^Baton is misconfigured: BATON_CONFIG: not valid JSON/);
  });

  it('a schema error carries the same message as parseConfig (same zod schema), naming the field', async () => {
    const bad = { ...goodConfig(), tokenTtl: 900, maxTokenTtl: 300 };
    let expected = '';
    try {
      parseConfig(bad, 'BATON_CONFIG');
    } catch (e) {
      expected = (e as Error).message;
    }
    expect(expected).toMatch(/^BATON_CONFIG: tokenTtl: /);
    expect(await misconfigured(workerEnv({ BATON_CONFIG: JSON.stringify(bad) }))).toBe(`Baton is misconfigured: ${expected}`);
  });

  it('a ${VAR} client secret that is not bound names the field and the variable', async () => {
    expect(await misconfigured(workerEnv({ TEST_ORDERS_SECRET: undefined }))).toBe(
      'Baton is misconfigured: BATON_CONFIG: clients.1.secret: environment variable TEST_ORDERS_SECRET is not set',
    );
  });

  it('a Redis store in the configuration is refused', async () => {
    expect(await misconfigured(workerEnv({ BATON_CONFIG: JSON.stringify({ ...goodConfig(), store: 'redis://127.0.0.1:6379' }) }))).toMatch(/BATON_CONFIG: store: Redis is not available on Workers/);
  });
});

describe('signing keys', () => {
  it('missing', async () => {
    expect(await misconfigured(workerEnv({ BATON_SIGNING_KEYS: undefined }))).toMatch(/BATON_SIGNING_KEYS: not set \(wrangler secret put BATON_SIGNING_KEYS/);
  });

  it('not JSON: the secret is never echoed', async () => {
    const d = await misconfigured(workerEnv({ BATON_SIGNING_KEYS: 'SUPERSECRETVALUE-not-json' }));
    expect(d).toMatch(/BATON_SIGNING_KEYS: not valid JSON/);
    expect(d).not.toContain('SUPERSECRET');
  });

  it('a public key only', async () => {
    const [k] = JSON.parse(env.BATON_SIGNING_KEYS) as Record<string, unknown>[];
    const { d: _d, ...pub } = k!;
    expect(await misconfigured(workerEnv({ BATON_SIGNING_KEYS: JSON.stringify(pub) }))).toMatch(/BATON_SIGNING_KEYS: signing key .* has no private part/);
  });

  it('one JWK (not an array) is accepted', async () => {
    const [, newest] = JSON.parse(env.BATON_SIGNING_KEYS) as Record<string, unknown>[];
    const res = await createWorker(committed).fetch(new Request(`${BASE}/.well-known/jwks.json`), workerEnv({ BATON_SIGNING_KEYS: JSON.stringify(newest) }));
    expect(res.status).toBe(200);
    expect(((await res.json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid)).toEqual([newest!.kid]);
  });
});

describe('store selection', () => {
  it('no Durable Object binding', async () => {
    expect(await misconfigured(workerEnv({ BATON_STORE_DO: undefined }))).toMatch(/BATON_STORE_DO: Durable Object binding missing/);
  });

  it('an unknown BATON_STORE', async () => {
    expect(await misconfigured(workerEnv({ BATON_STORE: 'kv' }))).toMatch(/BATON_STORE: must be "durable-object" or "memory"/);
  });

  it('BATON_STORE=memory runs without the binding', async () => {
    const res = await createWorker(committed).fetch(new Request(`${BASE}/healthz`), workerEnv({ BATON_STORE: 'memory', BATON_STORE_DO: undefined }));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', store: { ok: true, backend: 'memory' } });
  });
});

describe('policies', () => {
  it('policies configured and the bundle missing', async () => {
    expect(await misconfigured(workerEnv(), undefined)).toMatch(/^Baton is misconfigured: policy bundle: missing/);
  });

  it('policies configured and the bundle invalid', async () => {
    expect(await misconfigured(workerEnv(), { format: 'baton.policy-bundle', formatVersion: 1 })).toMatch(/^Baton is misconfigured: policy bundle: /);
    const edited = structuredClone(committed) as { policies: { documents: Record<string, unknown>[] }[] };
    edited.policies[0]!.documents[0]!.description = 'edited';
    expect(await misconfigured(workerEnv(), edited)).toMatch(/policy bundle: hash mismatch/);
  });
});

describe('the dev IdP', () => {
  const devConfig = () => JSON.stringify({ ...goodConfig(), dev: { idp: true } });

  it('is refused without BATON_DEV_IDP_JWKS (its key is a Node file)', async () => {
    expect(await misconfigured(workerEnv({ BATON_CONFIG: devConfig() }))).toMatch(/BATON_CONFIG: dev\.idp: .*BATON_DEV_IDP_JWKS/);
  });

  it('refuses private key material in BATON_DEV_IDP_JWKS', async () => {
    const priv = JSON.parse(env.TEST_IDP_PRIVATE_JWK) as Record<string, unknown>;
    expect(await misconfigured(workerEnv({ BATON_CONFIG: devConfig(), BATON_DEV_IDP_JWKS: JSON.stringify({ keys: [priv] }) }))).toMatch(
      /BATON_DEV_IDP_JWKS\.keys\[0\]: holds private key material/,
    );
  });

  it('is trusted with its public JWKS', async () => {
    const { d: _d, ...pub } = JSON.parse(env.TEST_IDP_PRIVATE_JWK) as Record<string, unknown>;
    const res = await createWorker(committed).fetch(new Request(`${BASE}/healthz`), workerEnv({ BATON_CONFIG: devConfig(), BATON_DEV_IDP_JWKS: JSON.stringify({ keys: [pub] }) }));
    expect(res.status).toBe(200);
  });
});
