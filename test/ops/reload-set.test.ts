/**
 * Issue 16: the reload holder in process. A request in flight finishes on the keys and policy it started with; reloads
 * never overlap; `--watch` reloads on a file change; a key file refused names its file and field.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyLoadError, loadSigningKeysStrict } from '../../src/cli/keys.js';
import { parseConfig } from '../../src/config/schema.js';
import { TokenService } from '../../src/exchange/index.js';
import { generateSigningJwk, SigningKeySet } from '../../src/jose/keys.js';
import { startNode } from '../../src/node.js';
import { problemsOf, Reloadable } from '../../src/ops/reload.js';
import { createApp } from '../../src/server/app.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { RateLimitCheck, RateLimitResult } from '../../src/store/types.js';
import { GRANT_TOKEN_EXCHANGE } from '../../src/txn/index.js';
import { basic } from '../helpers/names.js';
import { writeScopePolicy } from '../helpers/ops.js';
import { exchangeParams } from '../helpers/tts.js';
import { baseConfig, SECRETS } from '../helpers/world-tts.js';
import { startIdp, type TestIdp } from '../helpers/idp.js';
import { makeKey } from '../helpers/jwt.js';

let idp: TestIdp;
let dir: string;
beforeAll(async () => {
  idp = await startIdp();
  dir = mkdtempSync(join(tmpdir(), 'baton-reload-set-'));
});
afterAll(async () => {
  await idp?.close();
  rmSync(dir, { recursive: true, force: true });
});

const form = async (scope = 'tickets:read') => new URLSearchParams({ grant_type: GRANT_TOKEN_EXCHANGE, ...exchangeParams(await idp.mint(), { scope }) }).toString();

describe('issue 16: in-flight requests keep their set', () => {
  it('issue 16: an exchange in flight during a swap is signed with the key it started with; the next one with the new key', async () => {
    const oldKeys = await SigningKeySet.fromJwks([await generateSigningJwk('EdDSA', new Date('2030-01-01T00:00:00Z'))]);
    const newKeys = await SigningKeySet.fromJwks([await generateSigningJwk('EdDSA', new Date('2030-01-02T00:00:00Z'))]);
    // the rate-limit call of the first request waits until released: the swap happens while it is in flight
    const memory = new MemoryStore();
    let release: () => void = () => {};
    let arrived: () => void = () => {};
    const inFlight = new Promise<void>((r) => (arrived = r));
    let gate: Promise<void> | undefined = new Promise<void>((r) => (release = r));
    const store = Object.assign(memory, {
      rateLimitAll: async (checks: readonly RateLimitCheck[]): Promise<RateLimitResult[]> => {
        const g = gate;
        gate = undefined;
        if (g !== undefined) {
          arrived();
          await g;
        }
        const out: RateLimitResult[] = [];
        for (const c of checks) out.push(await memory.rateLimit(c.key, c.limit, c.windowMs));
        return out;
      },
    });
    const config = parseConfig({ ...baseConfig(idp, await makeKey('EdDSA')), issuer: 'http://tts.test', keys: 'unused' });
    const service = await TokenService.create({ config, keys: oldKeys, store, policy: undefined });
    const app = createApp({ service });
    const post = async () =>
      app.fetch(new Request('http://tts.test/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('mcp-support-agent', SECRETS.agent) }, body: await form() }));
    const first = post();
    await inFlight;
    service.use({ keys: newKeys, policy: undefined });
    release();
    const a = await first;
    expect(a.status, await a.clone().text()).toBe(200);
    expect(decodeProtectedHeader(((await a.json()) as { access_token: string }).access_token).kid).toBe(oldKeys.current.kid);
    const b = await post();
    expect(decodeProtectedHeader(((await b.json()) as { access_token: string }).access_token).kid).toBe(newKeys.current.kid);
    expect(((await (await app.fetch(new Request('http://tts.test/.well-known/jwks.json'))).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid)).toEqual([newKeys.current.kid]);
  });
});

describe('issue 16: the reload holder', () => {
  it('issue 16: reloads never overlap; one asked for during another runs after it; a refusal keeps the set and says why', async () => {
    let running = 0;
    let most = 0;
    let n = 0;
    const lines: string[] = [];
    const h = new Reloadable<number>(0, {
      load: async () => {
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 20));
        running--;
        n++;
        if (n === 3) throw Object.assign(new Error('bad'), { issues: [{ file: 'x.yaml', path: '$.a', message: 'no' }] });
        return n;
      },
      say: (m) => lines.push(m),
    });
    const rs = await Promise.all([h.reload('a'), h.reload('b'), h.reload('c')]);
    expect(most).toBe(1);
    expect(rs).toEqual([true, true, true]); // the second and third share one follow-up reload
    expect(h.current).toBe(2);
    expect(await h.reload('d')).toBe(false);
    expect(h.current).toBe(2);
    expect(h.status()).toMatchObject({ generation: 3, reloads: { ok: 2, failed: 1 }, lastFailure: { trigger: 'd', problems: [{ file: 'x.yaml', field: '$.a', message: 'no' }] } });
    expect(lines.at(-1)).toBe('reload (d) refused, the previous set keeps serving: x.yaml $.a: no');
    expect(await h.reload('e')).toBe(true);
    expect(h.status().lastFailure).toBeUndefined();
  });

  it('issue 16: a key file that is not a signing key is refused naming the file and the field; a good directory loads', async () => {
    const keys = mkdtempSync(join(dir, 'keys-'));
    const good = await generateSigningJwk('EdDSA');
    writeFileSync(join(keys, `${good.kid!}.jwk.json`), JSON.stringify(good));
    expect((await loadSigningKeysStrict(keys)).current.kid).toBe(good.kid);
    const { d: _d, ...publicOnly } = await generateSigningJwk('EdDSA');
    writeFileSync(join(keys, 'public.jwk.json'), JSON.stringify(publicOnly));
    writeFileSync(join(keys, 'broken.jwk.json'), '{not json');
    const e = await loadSigningKeysStrict(keys).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KeyLoadError);
    expect(problemsOf(e)).toEqual([
      { file: 'broken.jwk.json', message: 'not valid JSON' },
      { file: 'public.jwk.json', field: 'd', message: expect.stringContaining('has no private part') },
    ]);
    expect(JSON.stringify(problemsOf(e))).not.toContain(good.d!);
  });
});

describe('issue 16: --watch', () => {
  it('issue 16: a changed policy file is served without a signal', async () => {
    const policies = join(dir, 'watched');
    writeScopePolicy(policies, ['tickets:read', 'tickets:write']);
    const keys = mkdtempSync(join(dir, 'keys-'));
    const config = parseConfig({ ...baseConfig(idp, await makeKey('EdDSA')), issuer: 'http://127.0.0.1:0', keys, policies, port: 0, host: '127.0.0.1' });
    const lines: string[] = [];
    const node = await startNode({ loaded: { config, file: 'test', resolvePath: (p) => p }, port: 0, watch: true, say: (m) => lines.push(m), metrics: false });
    try {
      const scopeOf = async (): Promise<unknown> => {
        const r = await fetch(`${node.url}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('mcp-support-agent', SECRETS.agent) }, body: await form('tickets:read tickets:write') });
        expect(r.status).toBe(200);
        return ((await r.json()) as { scope?: string }).scope;
      };
      expect(await scopeOf()).toBeUndefined(); // both granted
      writeScopePolicy(policies, ['tickets:read']);
      const until = Date.now() + 20_000;
      while (node.serving.status().generation < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      expect(lines.join('\n')).toContain('reload (watch): generation 2 serving');
      expect(await scopeOf()).toBe('tickets:read');
    } finally {
      await node.close();
    }
  });
});
