/**
 * `baton token inspect JWT [--jwks FILE|URL] [--config FILE]`: header, claims and the chain as a tree; verification
 * when keys are given; never the signature. Run as a user runs it (npx tsx src/cli/main.ts).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tamperPayload } from '../helpers/jwt.js';
import { TRUST_DOMAIN } from '../helpers/names.js';
import { startVerifyWorld, type VerifyWorld } from '../helpers/world-verify.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Async on purpose: the TTS serving the JWKS runs in this process and must keep answering. */
function baton(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile('npx', ['tsx', 'src/cli/main.ts', ...args], { cwd: root, timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1;
      done({ code, stdout, stderr });
    });
  });
}

let w: VerifyWorld;
let dir: string;
let token: string;

beforeAll(async () => {
  w = await startVerifyWorld();
  dir = mkdtempSync(join(tmpdir(), 'baton-inspect-'));
  const first = await w.exchange();
  const r = await w.replace('orders-svc', first, { request_details: JSON.stringify({ tool: 'get_ticket' }) });
  token = r.ok!.access_token;
});
afterAll(async () => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  await w?.close();
});

function expectNoSignature(out: string, jwt: string): void {
  expect(out).not.toContain(jwt.split('.')[2]!);
  expect(out).not.toContain(jwt);
}

describe('baton token inspect', { timeout: 90_000 }, () => {
  it('prints header, claims and the chain tree (first hop first, current actor marked); says it did not verify', async () => {
    const r = await baton(['token', 'inspect', token]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('"typ": "txntoken+jwt"');
    expect(r.stdout).toContain(`"kid": "${w.signingJwk.kid!}"`);
    expect(r.stdout).toContain('"sub": "alice"');
    expect(r.stdout).toContain('"tool": "get_ticket"');
    const lines = r.stdout.split('\n');
    const user = lines.findIndex((l) => l.includes('user alice'));
    const agent = lines.findIndex((l) => l.includes('└─ mcp-support-agent'));
    const svc = lines.findIndex((l) => l.includes('└─ orders-svc'));
    expect(user).toBeGreaterThan(-1);
    expect(agent).toBeGreaterThan(user);
    expect(svc).toBeGreaterThan(agent);
    expect(lines[svc]).toContain('(current actor)');
    expect(lines[agent]).not.toContain('(current actor)');
    expect(r.stdout).toMatch(/signature: not verified/);
    expectNoSignature(r.stdout + r.stderr, token);
  });

  it('verifies with --jwks FILE', async () => {
    const file = join(dir, 'jwks.json');
    writeFileSync(file, JSON.stringify(w.jwks));
    const r = await baton(['token', 'inspect', token, '--jwks', file]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toContain('verification: valid Txn-Token');
    expectNoSignature(r.stdout + r.stderr, token);
  });

  it('verifies with --jwks URL (the TTS JWKS endpoint)', async () => {
    const r = await baton(['token', 'inspect', token, '--jwks', w.jwksUri]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toContain('verification: valid Txn-Token');
  });

  it('verifies with --config (keys, trust domain and issuer of the TTS configuration)', async () => {
    const cfg = join(dir, 'baton.config.yaml');
    writeFileSync(cfg, `issuer: ${w.tts.issuer}\ntrustDomain: ${TRUST_DOMAIN}\nkeys: ${w.tts.keysDir}\n`);
    const ok = await baton(['token', 'inspect', token, '--config', cfg]);
    expect(ok.code, ok.stderr + ok.stdout).toBe(0);
    expect(ok.stdout).toContain('verification: valid Txn-Token');
    const other = join(dir, 'other.config.yaml');
    writeFileSync(other, `issuer: ${w.tts.issuer}\ntrustDomain: other.example\nkeys: ${w.tts.keysDir}\n`);
    const bad = await baton(['token', 'inspect', token, '--config', other]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('verification: FAILED (wrong_audience');
  });

  it('a tampered token: still printed (decoded), verification FAILED bad_signature, exit 1, no signature shown', async () => {
    const file = join(dir, 'jwks2.json');
    writeFileSync(file, JSON.stringify(w.jwks));
    const forged = tamperPayload(token, (c) => ({ ...c, sub: 'bob' }));
    const r = await baton(['token', 'inspect', forged, '--jwks', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('"sub": "bob"');
    expect(r.stdout).toContain('verification: FAILED (bad_signature');
    expectNoSignature(r.stdout + r.stderr, forged);
  });

  it('not a JWT: exit 1 with a message', async () => {
    const r = await baton(['token', 'inspect', 'not-a-jwt']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('not a JWT');
  });
});
