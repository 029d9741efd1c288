/**
 * Configuration errors that name the file and the field, `${VAR:-default}` substitution, the hashed secret form
 * (`baton secret hash`), and `baton dev token` output accepted by the default configuration (the README path).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import * as oauth from 'oauth4webapi';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.node.js';
import { ConfigError, parseConfig } from '../../src/config/schema.js';
import { startNode } from '../../src/node.js';
import { startIdp, type TestIdp } from '../helpers/idp.js';
import { makeKey } from '../helpers/jwt.js';
import { exchangeParams, captureDecisions, expectRefusal, o4wExchange, startTts } from '../helpers/tts.js';
import { baseConfig } from '../helpers/world-tts.js';

const ROOT = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

async function baton(args: string[], env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, BATON_CONFIG: '', ...env },
    timeout: 30_000,
  });
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'baton-config-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function writeConfig(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const MINIMAL = `issuer: https://tts.example
trustDomain: support.example
clients:
  - id: svc
    auth: client_secret_basic
    secret: \${SVC_SECRET}
    scopes: [tickets:read]
`;

function loadError(path: string, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    loadConfigFile(path, env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('the configuration was accepted');
}

describe('configuration errors name the file and the field', () => {
  it('bad YAML', () => {
    const p = writeConfig('bad.yaml', 'issuer: [unclosed\ntrustDomain: x\n');
    const e = loadError(p);
    expect(e.message).toContain(p);
    expect(e.message).toMatch(/YAML/);
  });

  it('an unknown field', () => {
    const p = writeConfig('unknown.yaml', MINIMAL + 'tokenTTL: 100\n');
    const e = loadError(p, { SVC_SECRET: 'a-long-enough-secret' });
    expect(e.message).toContain(p);
    expect(e.message).toContain('tokenTTL');
  });

  it('an unknown field inside a client names its path', () => {
    const p = writeConfig('unknown-client.yaml', MINIMAL.replace('    scopes: [tickets:read]\n', '    scopes: [tickets:read]\n    secrte: oops\n'));
    const e = loadError(p, { SVC_SECRET: 'a-long-enough-secret' });
    expect(e.message).toContain(p);
    expect(e.message).toMatch(/clients\.0/);
    expect(e.message).toContain('secrte');
  });

  it('a missing environment variable names the variable and the field, never a value', () => {
    const p = writeConfig('env.yaml', MINIMAL);
    const e = loadError(p, {});
    expect(e.message).toContain(p);
    expect(e.message).toContain('SVC_SECRET');
    expect(e.message).toContain('clients.0.secret');
  });

  it('T-17 tokenTtl above maxTokenTtl', () => {
    const p = writeConfig('ttl.yaml', MINIMAL + 'tokenTtl: 400\nmaxTokenTtl: 300\n');
    const e = loadError(p, { SVC_SECRET: 'a-long-enough-secret' });
    expect(e.message).toContain(p);
    expect(e.message).toContain('tokenTtl');
  });

  it('T-17 maxTokenTtl above 600 seconds', () => {
    const p = writeConfig('max.yaml', MINIMAL + 'maxTokenTtl: 601\n');
    const e = loadError(p, { SVC_SECRET: 'a-long-enough-secret' });
    expect(e.message).toContain(p);
    expect(e.message).toContain('maxTokenTtl');
    expect(e.message).toContain('600');
  });

  it('a private_key_jwt client without keys, and a missing trustDomain', () => {
    expect(() => parseConfig({ issuer: 'x', trustDomain: 'd', clients: [{ id: 'a', auth: 'private_key_jwt', scopes: ['s'] }] }, 'cfg.yaml')).toThrow(/cfg\.yaml: clients\.0\.jwks/);
    expect(() => parseConfig({ issuer: 'x' }, 'cfg.yaml')).toThrow(/cfg\.yaml: trustDomain/);
  });

  it('${VAR:-default} substitutes the default when the variable is unset or empty, the variable otherwise', () => {
    const p = writeConfig('defaults.yaml', MINIMAL.replace('${SVC_SECRET}', '${SVC_SECRET:-fallback-secret-value}') + 'trustDomains: ["${TD:-support.example}", other.example]\n');
    expect(loadConfigFile(p, {}).config.clients[0]!.secret).toBe('fallback-secret-value');
    expect(loadConfigFile(p, { SVC_SECRET: '' }).config.clients[0]!.secret).toBe('fallback-secret-value');
    const l = loadConfigFile(p, { SVC_SECRET: 'from-the-environment', TD: 'td.example' });
    expect(l.config.clients[0]!.secret).toBe('from-the-environment');
    expect(l.config.trustDomains).toEqual(['td.example', 'other.example']);
    expect(l.resolvePath('keys')).toBe(join(dir, 'keys'));
  });

  it('JSON configuration files are read too', () => {
    const p = writeConfig('c.json', JSON.stringify({ issuer: 'https://tts.example', trustDomain: 'd', maxTokenTtl: 900 }));
    const e = loadError(p);
    expect(e.message).toContain(p);
    expect(e.message).toContain('maxTokenTtl');
  });
});

describe('hashed client secret (baton secret hash)', () => {
  let idp: TestIdp;
  beforeAll(async () => {
    idp = await startIdp();
  });
  afterAll(async () => {
    await idp?.close();
  });

  it('T-08 a client configured with the sha256: form printed by `baton secret hash` authenticates with the plain secret', async () => {
    const secret = 'generated-high-entropy-secret-4f9a1c';
    const { stdout } = await baton(['secret', 'hash', secret]);
    const hashed = stdout.trim();
    expect(hashed).toMatch(/^sha256:[A-Za-z0-9_-]{43}$/);
    expect(hashed.includes(secret)).toBe(false);
    const clientKey = await makeKey();
    const tts = await startTts({
      config: () => {
        const base = baseConfig(idp, clientKey);
        return { ...base, clients: [{ id: 'hashed', auth: 'client_secret_basic', secret: hashed, scopes: ['tickets:read'], subjectAudiences: ['https://mcp.support.example'] }] };
      },
    });
    try {
      const ok = await o4wExchange(tts.as, 'hashed', oauth.ClientSecretBasic(secret), exchangeParams(await idp.mint()));
      expect(ok.response.status, ok.text).toBe(200);
      const subject = await idp.mint();
      expectRefusal(await o4wExchange(tts.as, 'hashed', oauth.ClientSecretBasic(hashed), exchangeParams(subject)), 401, 'invalid_client', 'client.secret_mismatch', [subject, hashed]);
      expectRefusal(await o4wExchange(tts.as, 'hashed', oauth.ClientSecretBasic(secret + 'x'), exchangeParams(subject)), 401, 'invalid_client', 'client.secret_mismatch', [subject, secret]);
    } finally {
      await tts.close();
    }
  });
});

describe('baton dev token (the README walk-through)', () => {
  it('prints a user access token that the default configuration exchanges for a Txn-Token', async () => {
    // a copy of the default configuration whose keys dir is a fresh temp dir (the repo's keys/ is never touched)
    const work = mkdtempSync(join(tmpdir(), 'baton-devtoken-'));
    try {
      const original = readFileSync(join(ROOT, 'baton.config.yaml'), 'utf8');
      expect(original).toMatch(/^keys: keys\b/m);
      const cfgText = original.replace(/^keys: keys\b/m, `keys: ${join(work, 'keys')}`).replace(/^policies: policies\b/m, `policies: ${join(ROOT, 'policies')}`);
      const cfg = join(work, 'baton.config.yaml');
      writeFileSync(cfg, cfgText);

      const { stdout } = await baton(['dev', 'token', '--sub', 'alice', '--scope', 'tickets orders:read', '--config', cfg], { BATON_DEV_CLIENT_SECRET: '' });
      const subject = stdout.trim();
      expect(decodeProtectedHeader(subject)).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt' });
      expect(decodeJwt(subject)).toMatchObject({ iss: 'urn:baton:dev-idp', sub: 'alice', aud: 'https://mcp.support.example', scope: 'tickets orders:read' });

      const loaded = loadConfigFile(cfg, {});
      const node = await startNode({ loaded, port: 0, say: () => {}, onDecision: captureDecisions().onDecision });
      try {
        // the default issuer is http://127.0.0.1:8080; the test server listens elsewhere, so give oauth4webapi its endpoint
        const as: oauth.AuthorizationServer = { issuer: loaded.config.issuer, token_endpoint: `${node.url}/token` };
        const r = await o4wExchange(as, 'mcp-support-agent', oauth.ClientSecretBasic('dev-secret-change-me'), exchangeParams(subject, { scope: 'tickets:read', request_details: '{"tool":"get_ticket","ticket_id":"T-1"}' }));
        expect(r.response.status, r.text).toBe(200);
        const v = await jwtVerify(r.ok!.access_token, createRemoteJWKSet(new URL(`${node.url}/.well-known/jwks.json`)), {
          issuer: 'http://127.0.0.1:8080',
          audience: 'support.example',
          typ: 'txntoken+jwt',
        });
        expect(v.payload).toMatchObject({ sub: 'alice', scope: 'tickets:read', req_wl: 'mcp-support-agent', act: { sub: 'mcp-support-agent' } });
        expect(v.payload.tctx).toMatchObject({ roles: ['user'], request_details: { tool: 'get_ticket', ticket_id: 'T-1' } });
        // the subject allows tickets:write (tickets implies it) but the default policies never give it to the agent workload
        const denied = await o4wExchange(as, 'mcp-support-agent', oauth.ClientSecretBasic('dev-secret-change-me'), exchangeParams(subject, { scope: 'tickets:write' }));
        expectRefusal(denied, 400, 'invalid_scope', 'scope.none_granted', [subject, 'dev-secret-change-me']);
      } finally {
        await node.close();
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
