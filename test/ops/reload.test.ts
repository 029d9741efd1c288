/**
 * Issue 16: reload without restart. A real `baton serve` child gets a real SIGHUP: a policy swapped under load fails
 * no request; an invalid set keeps the old one serving, is logged with file and field, and shows in /readyz and
 * /metrics; a key rotation keeps every token signed before it verifying. In process: a request in flight finishes on
 * the set it started with, and `--watch` reloads on a file change.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningJwk } from '../../src/jose/keys.js';
import { GRANT_TOKEN_EXCHANGE, TT_ACCESS_TOKEN, TT_TXN_TOKEN } from '../../src/txn/index.js';
import { createVerifier } from '../../src/verify/index.js';
import { startIdp, type TestIdp } from '../helpers/idp.js';
import { MCP_AUD, TRUST_DOMAIN, basic } from '../helpers/names.js';
import { metricValue, writeScopePolicy } from '../helpers/ops.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SECRET = 'reload-secret-0123456789';
const START_MS = 60_000;

interface Child {
  child: ChildProcess;
  url: string;
  stderr: string[];
  /** resolves with the first stderr line matching, at most START_MS */
  line(re: RegExp): Promise<string>;
}

let idp: TestIdp;
let dir: string;
let policies: string;
let keys: string;
let serve: Child;

async function start(configPath: string): Promise<Child> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--config', configPath], {
    cwd: ROOT,
    env: { ...process.env, BATON_DECISION_LOG: 'off' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const stderr: string[] = [];
  const waiters: Array<{ re: RegExp; from: number; done: (l: string) => void }> = [];
  let buf = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    buf += d;
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const l of lines) {
      stderr.push(l);
      for (const w of [...waiters]) if (w.re.test(l)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.done(l);
      }
    }
  });
  const line = (re: RegExp): Promise<string> =>
    new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error(`no line ${re} within ${START_MS} ms:\n${stderr.join('\n')}`)), START_MS);
      waiters.push({ re, from: stderr.length, done: (l) => (clearTimeout(t), res(l)) });
    });
  const serving = await line(/serving on (http:\/\/127\.0\.0\.1:\d+)/);
  return { child, url: /serving on (http:\/\/127\.0\.0\.1:\d+)/.exec(serving)![1]!, stderr, line };
}

beforeAll(async () => {
  idp = await startIdp();
  dir = mkdtempSync(join(tmpdir(), 'baton-reload-'));
  policies = join(dir, 'policies');
  keys = join(dir, 'keys');
  mkdirSync(keys);
  writeScopePolicy(policies, ['tickets:read', 'tickets:write']);
  const config = {
    issuer: 'http://127.0.0.1:0',
    trustDomain: TRUST_DOMAIN,
    host: '127.0.0.1',
    port: 0,
    keys,
    policies,
    store: 'memory',
    defaultRateLimit: { perClient: 1_000_000, perSubject: 1_000_000, windowSeconds: 60 },
    subjectIssuers: [{ issuer: idp.issuer, jwksUri: idp.jwksUri, audiences: [MCP_AUD], algorithms: ['EdDSA'] }],
    clients: [{ id: 'agent', auth: 'client_secret_basic', secret: SECRET, scopes: ['tickets:read', 'tickets:write'], subjectAudiences: [MCP_AUD] }],
  };
  writeFileSync(join(dir, 'baton.config.yaml'), JSON.stringify(config, null, 2));
  serve = await start(join(dir, 'baton.config.yaml'));
}, START_MS + 10_000);

afterAll(async () => {
  if (serve !== undefined && serve.child.exitCode === null) {
    const exited = new Promise((r) => serve.child.once('exit', r));
    serve.child.kill('SIGTERM');
    await exited;
  }
  await idp?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function exchange(subject: string, scope = 'tickets:read tickets:write'): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(`${serve.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('agent', SECRET) },
    body: new URLSearchParams({ grant_type: GRANT_TOKEN_EXCHANGE, requested_token_type: TT_TXN_TOKEN, audience: TRUST_DOMAIN, scope, subject_token: subject, subject_token_type: TT_ACCESS_TOKEN }),
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

describe('issue 16: SIGHUP reloads policies and keys of a running `baton serve`', () => {
  it('issue 16: a policy swapped under load: every request answered 200, those started after the swap on the new policy', async () => {
    const subjects = await Promise.all(Array.from({ length: 40 }, () => idp.mint()));
    const results: Array<{ status: number; narrowed: boolean; startedAfterSwap: boolean }> = [];
    let swapped = false;
    let stop = false;
    const worker = async (n: number): Promise<void> => {
      for (let i = n; !stop; i++) {
        const after = swapped;
        const r = await exchange(subjects[i % subjects.length]!);
        results.push({ status: r.status, narrowed: r.body.scope === 'tickets:read', startedAfterSwap: after });
      }
    };
    const load = Promise.all([0, 1, 2, 3].map(worker));
    while (results.length < 40) await new Promise((r) => setTimeout(r, 10));
    writeScopePolicy(policies, ['tickets:read']);
    const reloaded = serve.line(/reload \(SIGHUP\): generation 2 serving/);
    serve.child.kill('SIGHUP');
    await reloaded;
    swapped = true;
    const at = results.length;
    while (results.length < at + 60) await new Promise((r) => setTimeout(r, 10));
    stop = true;
    await load;
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    expect(results.some((r) => !r.narrowed)).toBe(true); // the old policy granted both
    const after = results.filter((r) => r.startedAfterSwap);
    expect(after.length).toBeGreaterThanOrEqual(60);
    expect(after.every((r) => r.narrowed)).toBe(true);
  });

  it('issue 16: an invalid set is refused: the old one keeps serving; the log names file and field; /readyz and /metrics show it', async () => {
    writeFileSync(join(policies, 'bad.yaml'), 'apiVersion: api.cerbos.dev/v1\nresourcePolicy:\n  resource: 1\n  version: default\n  rules: []\n');
    const refused = serve.line(/reload \(SIGHUP\) refused/);
    serve.child.kill('SIGHUP');
    const line = await refused;
    expect(line).toContain('the previous set keeps serving');
    expect(line).toContain('bad.yaml $.resourcePolicy.resource');
    const ready = await fetch(`${serve.url}/readyz`);
    expect(ready.status).toBe(200); // the previous set serves: ready, with the refusal in the detail
    const body = (await ready.json()) as { checks: { reload: { generation: number; lastFailure: { trigger: string; problems: unknown[] } } } };
    expect(body.checks.reload.generation).toBe(2);
    expect(body.checks.reload.lastFailure).toMatchObject({ trigger: 'SIGHUP', problems: [{ file: 'bad.yaml', field: '$.resourcePolicy.resource' }] });
    const metrics = await (await fetch(`${serve.url}/metrics`)).text();
    expect(metricValue(metrics, 'baton_reload_failed')).toBe(1);
    expect(metricValue(metrics, 'baton_reloads', { outcome: 'failed' })).toBe(1);
    const r = await exchange(await idp.mint());
    expect(r).toMatchObject({ status: 200, body: { scope: 'tickets:read' } }); // still the second policy
    unlinkSync(join(policies, 'bad.yaml'));
  });

  it('issue 16: key rotation (docs/operations.md): a token signed before the rotation keeps verifying after it; new tokens use the new key', async () => {
    const before = await exchange(await idp.mint(), 'tickets:read');
    expect(before.status).toBe(200);
    const oldToken = before.body.access_token as string;
    const oldKid = decodeProtectedHeader(oldToken).kid!;
    // the runbook's step 1: a new key beside the old one (newer kid: it signs from the reload on)
    const jwk = await generateSigningJwk('EdDSA', new Date(Date.now() + 2000));
    writeFileSync(join(keys, `${jwk.kid!}.jwk.json`), JSON.stringify(jwk), { mode: 0o600 });
    const reloaded = serve.line(/reload \(SIGHUP\): generation 3 serving \(signing key /);
    serve.child.kill('SIGHUP');
    expect(await reloaded).toContain(jwk.kid!);
    const after = await exchange(await idp.mint(), 'tickets:read');
    expect(decodeProtectedHeader(after.body.access_token as string).kid).toBe(jwk.kid);
    const jwks = (await (await fetch(`${serve.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string; d?: string }> };
    expect(jwks.keys.map((k) => k.kid).sort()).toEqual([oldKid, jwk.kid!].sort());
    expect(jwks.keys.every((k) => k.d === undefined)).toBe(true);
    // a service fetching the JWKS (as services do) verifies both
    const verifier = createVerifier({ trustDomain: TRUST_DOMAIN, issuer: 'http://127.0.0.1:0', jwksUri: `${serve.url}/.well-known/jwks.json`, onDecision: null });
    try {
      expect((await verifier.verify(oldToken)).sub).toBe('alice');
      expect((await verifier.verify(after.body.access_token as string)).sub).toBe('alice');
    } finally {
      await verifier.close();
    }
    // and the TTS itself still knows the old token (revocation verifies it with its own keys)
    const revoke = await fetch(`${serve.url}/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('agent', SECRET) }, body: new URLSearchParams({ token: oldToken }) });
    expect(revoke.status).toBe(200);
    expect(serve.stderr.join('\n')).not.toContain(jwk.d!);
  });
});
