/**
 * The `baton` command (issue 12): every command and subcommand answers --help with exit 0 and touches nothing, unknown
 * options are errors naming the option, `--port=N` works, `baton init` writes a starter configuration and a dev key and
 * says what next, `baton serve` without a configuration points at `baton init`, and a port that disagrees with a
 * loopback issuer is refused with the reason. Run in-process in an empty temporary folder (the installed command is
 * exercised from its tarball by test/packages/).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as oauth from 'oauth4webapi';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfigFile } from '../../src/config/load.node.js';
import { commandTable, main } from '../../src/cli/main.js';
import { startNode } from '../../src/node.js';
import { freePort } from '../helpers/net.js';

const ROOT = resolve(import.meta.dirname, '../..');
let work: string;
let home: string;
let out: string[];
let err: string[];

function listing(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

async function baton(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  out.length = 0;
  err.length = 0;
  const code = await main(argv);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

beforeAll(() => {
  home = process.cwd();
  work = mkdtempSync(join(tmpdir(), 'baton-cli-'));
  process.chdir(work);
});
afterAll(() => {
  process.chdir(home);
  rmSync(work, { recursive: true, force: true });
});
beforeEach(() => {
  out = [];
  err = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  vi.stubEnv('BATON_CONFIG', '');
  vi.stubEnv('PORT', '');
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

describe('help', () => {
  const commands = commandTable().map((c) => c.command.replace(/^baton /, '').split(' ').filter((w) => /^[a-z]+$/.test(w)));

  it('the table holds every command: init, serve, pdp, keys generate, dev token, dev worker, token inspect, policy test/compile/build, secret hash', () => {
    expect(commands.map((c) => c.join(' '))).toEqual(['init', 'serve', 'pdp', 'keys generate', 'dev token', 'dev worker', 'token inspect', 'policy test', 'policy compile', 'policy build', 'secret hash']);
  });

  it('every command and subcommand: --help and -h exit 0 with its usage, and nothing is written (serve does not start)', async () => {
    const before = listing(work);
    for (const words of commands)
      for (const flag of ['--help', '-h']) {
        const r = await baton(...words, flag);
        expect(r.code, `${words.join(' ')} ${flag}: ${r.err}`).toBe(0);
        expect(r.out).toContain(`usage: baton ${words.join(' ')}`);
        expect(r.out).toContain('-h, --help');
      }
    // with other arguments too: --help wins and nothing runs (keys generate would write a key, secret hash would hash)
    expect((await baton('keys', 'generate', '--dir', 'k', '--help')).code).toBe(0);
    expect((await baton('secret', 'hash', '--help')).out).toContain('usage: baton secret hash');
    expect((await baton('serve', '--port', '1', '--help')).code).toBe(0);
    expect((await baton('init', '--force', '-h')).code).toBe(0);
    expect(listing(work)).toEqual(before);
  });

  it('groups, `baton help X`, --version; no command is a usage error (exit 2) showing the commands', async () => {
    for (const g of ['keys', 'dev', 'token', 'policy', 'secret']) {
      const r = await baton(g, '--help');
      expect(r.code).toBe(0);
      expect(r.out).toContain(`usage: baton ${g} SUBCOMMAND`);
      const none = await baton(g);
      expect(none.code).toBe(2);
      expect(none.err).toContain('a subcommand is needed');
    }
    expect((await baton('help', 'dev', 'token')).out).toContain('usage: baton dev token --sub ID --scope');
    expect((await baton('--help')).code).toBe(0);
    expect((await baton('help')).out).toContain('commands:');
    expect((await baton('--version')).out).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
    const bare = await baton();
    expect(bare.code).toBe(2);
    expect(bare.err).toContain('commands:');
  });

  it('a secret that looks like an option is hashed after --', async () => {
    const r = await baton('secret', 'hash', '--', '--help');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^sha256:[A-Za-z0-9_-]{43}$/);
  });
});

describe('refusals', () => {
  it('unknown options and stray arguments: exit 2 naming them, nothing runs', async () => {
    const before = listing(work);
    for (const [argv, named] of [
      [['serve', '--prot', '9000'], "'--prot'"],
      [['keys', 'generate', '--algo', 'ES256'], "'--algo'"],
      [['dev', 'token', '--sub', 'a', '--scope', 's', '--verbose'], "'--verbose'"],
      [['init', 'here'], "'here'"],
      [['secret', 'hash', 'a', 'b'], '"b"'],
      [['policy', 'test', '--output', 'yaml'], '--output must be text or json'],
    ] as const) {
      const r = await baton(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err).toContain(named);
      expect(r.err).toContain(`baton ${argv[0]}`);
    }
    expect((await baton('nonsense')).err).toContain('unknown command "nonsense"');
    expect((await baton('keys', 'rotate')).err).toContain('unknown subcommand "rotate"');
    expect((await baton('serve', '--port=0')).err).toContain('--port must be a port number (1-65535)');
    expect((await baton('serve', '--port=http')).code).toBe(2);
    expect(listing(work)).toEqual(before);
  });

  it('serve, dev token and dev worker without a configuration point at `baton init` (exit 1)', async () => {
    for (const argv of [['serve'], ['dev', 'token', '--sub', 'a', '--scope', 's'], ['dev', 'worker']]) {
      const r = await baton(...argv);
      expect(r.code, argv.join(' ')).toBe(1);
      expect(r.err).toContain('no configuration: ./baton.config.yaml does not exist');
      expect(r.err).toContain('baton init');
    }
    const missing = await baton('serve', '--config', 'nowhere.yaml');
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('cannot read configuration (ENOENT); `baton init` writes a starter configuration');
    expect(listing(work)).toEqual([]);
  });
});

describe('baton init', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'baton-init-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a starter configuration (secret only as its hash) and a dev key, prints the secret once and the next steps', async () => {
    const port = await freePort();
    const r = await baton('init', '--dir', dir, `--port=${port}`, '--trust-domain', 'shop.internal');
    expect(r.code, r.err).toBe(0);
    const secret = /client my-mcp-server: secret (\S+)/.exec(r.out)?.[1];
    expect(secret).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const text = readFileSync(join(dir, 'baton.config.yaml'), 'utf8');
    expect(text).not.toContain(secret);
    const loaded = loadConfigFile(join(dir, 'baton.config.yaml'), {});
    expect(loaded.config).toMatchObject({ issuer: `http://127.0.0.1:${port}`, port, trustDomain: 'shop.internal', store: 'memory', dev: { idp: true } });
    expect(loaded.config.clients[0]).toMatchObject({ id: 'my-mcp-server', auth: 'client_secret_basic', scopes: ['orders:read', 'orders:write'] });
    const keys = readdirSync(join(dir, 'keys')).filter((n) => n.endsWith('.jwk.json'));
    expect(keys).toHaveLength(1);
    expect(statSync(join(dir, 'keys', keys[0]!)).mode & 0o077).toBe(0); // private key: owner only
    for (const step of ['next:', 'baton serve', 'baton dev token --sub alice', `-u my-mcp-server:${secret}`, `http://127.0.0.1:${port}/token`, 'before production: dev.idp: false'])
      expect(r.out).toContain(step);

    // and it works as printed: serve it, get a dev token, exchange it with the printed secret
    const node = await startNode({ loaded, say: () => {} });
    try {
      const as = await oauth.processDiscoveryResponse(new URL(loaded.config.issuer), await oauth.discoveryRequest(new URL(loaded.config.issuer), { algorithm: 'oauth2', [oauth.allowInsecureRequests]: true }));
      expect(as.token_endpoint).toBe(`http://127.0.0.1:${port}/token`);
      const tok = await baton('dev', 'token', '--sub', 'alice', '--scope', 'orders:read', '--config', join(dir, 'baton.config.yaml'));
      expect(tok.code, tok.err).toBe(0);
      const res = await oauth.genericTokenEndpointRequest(as, { client_id: 'my-mcp-server' }, oauth.ClientSecretBasic(secret!), 'urn:ietf:params:oauth:grant-type:token-exchange', {
        requested_token_type: 'urn:ietf:params:oauth:token-type:txn_token', audience: 'shop.internal', scope: 'orders:read',
        subject_token_type: 'urn:ietf:params:oauth:token-type:access_token', subject_token: tok.out.trim(),
      }, { [oauth.allowInsecureRequests]: true });
      expect(res.status, await res.clone().text()).toBe(200);
    } finally {
      await node.close();
    }
  });

  it('never overwrites a configuration without --force, and adds no key where keys exist', async () => {
    const before = readFileSync(join(dir, 'baton.config.yaml'), 'utf8');
    const r = await baton('init', '--dir', dir);
    expect(r.code).toBe(1);
    expect(r.err).toContain('baton.config.yaml exists: nothing was written (baton init --force replaces it)');
    expect(readFileSync(join(dir, 'baton.config.yaml'), 'utf8')).toBe(before);
    const forced = await baton('init', '--dir', dir, '--force');
    expect(forced.code, forced.err).toBe(0);
    expect(forced.out).toContain('no new key');
    expect(readdirSync(join(dir, 'keys')).filter((n) => n.endsWith('.jwk.json'))).toHaveLength(1);
  });

  it('an issuer on this machine that disagrees with --port is refused, saying why', async () => {
    const r = await baton('init', '--dir', join(dir, 'x'), '--port', '9001', '--issuer', 'http://127.0.0.1:9002');
    expect(r.code).toBe(1);
    expect(r.err).toContain('issuer http://127.0.0.1:9002 is on port 9002, but the server would listen on port 9001');
    const https = await baton('init', '--dir', join(dir, 'y'), '--port', '9001', '--issuer', 'https://tts.example.com');
    expect(https.code, https.err).toBe(0); // served behind a proxy: its port is not ours to check
  });
});

describe('port and issuer', () => {
  it('serve --port=N (or PORT) off the issuer port refuses to start before anything is built, naming both and the fix', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-port-'));
    try {
      const port = await freePort();
      writeFileSync(join(dir, 'baton.config.yaml'), `issuer: http://127.0.0.1:${port}\ntrustDomain: t.example\nport: ${port}\nkeys: keys\n`);
      const other = port === 65535 ? port - 1 : port + 1;
      const r = await baton('serve', '--config', join(dir, 'baton.config.yaml'), `--port=${other}`);
      expect(r.code).toBe(1);
      expect(r.err).toContain(`issuer http://127.0.0.1:${port} is on port ${port}, but the server would listen on port ${other}`);
      expect(r.err).toContain(`Set issuer to http://127.0.0.1:${other} (and port: ${other}), or serve on port ${port}`);
      vi.stubEnv('PORT', String(other));
      expect((await baton('serve', '--config', join(dir, 'baton.config.yaml'))).err).toContain(`would listen on port ${other}`);
      expect(readdirSync(dir)).toEqual(['baton.config.yaml']); // no key generated: refused before building
      // a loopback issuer, but listening on another interface only
      const h = await baton('serve', '--config', join(dir, 'baton.config.yaml'), '--host', '192.0.2.1', `--port=${port}`);
      expect(h.err).toContain('is on this machine\'s loopback address, but the server would listen on 192.0.2.1 only');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('baton dev worker', () => {
  it('.dev.vars: the configuration for a local issuer with secrets as ${VARs}, signing keys, the dev IdP public key; kept unless --force', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-devvars-'));
    try {
      writeFileSync(
        join(dir, 'baton.config.yaml'),
        'issuer: http://127.0.0.1:8080\ntrustDomain: support.example\nkeys: keys\nstore: memory\npolicies: policies\nclients:\n  - id: mcp-support-agent\n    auth: client_secret_basic\n    secret: ${DEV_SECRET:-dev-secret-change-me}\n    scopes: [tickets:read]\n',
      );
      const file = join(dir, '.dev.vars');
      const r = await baton('dev', 'worker', '--config', join(dir, 'baton.config.yaml'), '--out', file, '--port=8899');
      expect(r.code, r.err).toBe(0);
      expect(statSync(file).mode & 0o077).toBe(0);
      const vars = Object.fromEntries(
        readFileSync(file, 'utf8').split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 2, -1)]),
      ) as Record<string, string>;
      const config = JSON.parse(vars['BATON_CONFIG']!) as Record<string, unknown>;
      expect(config).toMatchObject({ issuer: 'http://127.0.0.1:8899', dev: { idp: true }, policies: 'policies', clients: [{ id: 'mcp-support-agent', secret: '${BATON_CLIENT_SECRET_MCP_SUPPORT_AGENT}' }] });
      expect(config).not.toHaveProperty('store');
      expect(config).not.toHaveProperty('keys');
      expect(vars['BATON_CLIENT_SECRET_MCP_SUPPORT_AGENT']).toBe('dev-secret-change-me');
      const signing = JSON.parse(vars['BATON_SIGNING_KEYS']!) as { d?: string; kid?: string }[];
      expect(signing).toHaveLength(1);
      expect(signing[0]!.d).toBeDefined();
      const idp = JSON.parse(vars['BATON_DEV_IDP_JWKS']!) as { keys: Record<string, unknown>[] };
      expect(idp.keys[0]).not.toHaveProperty('d'); // public only
      const again = await baton('dev', 'worker', '--config', join(dir, 'baton.config.yaml'), '--out', file, '--port', '9999');
      expect(again.out).toContain('exists: kept (issuer http://127.0.0.1:8899)');
      expect((JSON.parse(/^BATON_CONFIG='(.*)'$/m.exec(readFileSync(file, 'utf8'))![1]!) as { issuer: string }).issuer).toBe('http://127.0.0.1:8899');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('as a process', { timeout: 60_000 }, () => {
  it('secret hash reads the secret from stdin (kept out of the process list)', async () => {
    const r = await new Promise<{ code: number; stdout: string }>((res) => {
      const child = execFile(process.execPath, ['--import', import.meta.resolve('tsx'), join(ROOT, 'src/cli/main.ts'), 'secret', 'hash'], { cwd: work }, (e, stdout) => res({ code: e ? Number(e.code ?? 1) : 0, stdout }));
      child.stdin!.end('s3cret-value\n');
    });
    expect(r.code).toBe(0);
    const direct = await baton('secret', 'hash', 's3cret-value');
    expect(r.stdout.trim()).toBe(direct.out);
  });
});
