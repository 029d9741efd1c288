/**
 * Consumers of the packages as users get them (issue 12): every package is installed from its tarball
 * (dist/packages/, made by test/packages/setup.ts) with npm in a fresh folder outside the repository; nothing is
 * linked to the workspace. In order:
 *  1. the `baton` command from baton-tts: help everywhere, refusals, init, serve, dev token, exchange, inspect;
 *  2. a plain Node ESM service (.mjs) with baton-tts-verify + baton-tts-policy verifying a real Txn-Token of (1);
 *  3. a TypeScript consumer of every package under the strictest common options, skipLibCheck false;
 *  4. a Cloudflare Worker with baton-tts-verify: wrangler deploy --dry-run, then served by wrangler dev (workerd);
 *  5. what each package pulls in (dependency count, install size), and never what its mustNotPull lists.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  copyFixture,
  exchange,
  freePort,
  freshFolder,
  install,
  installed,
  MUST_NOT_PULL,
  PACKAGES,
  removeFolders,
  ROOT,
  run,
  sizeOf,
  startUntil,
  stopAll,
  type Started,
} from './helpers.js';

const WRANGLER = join(ROOT, 'node_modules/wrangler/bin/wrangler.js');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const QUIET_WRANGLER = { WRANGLER_SEND_METRICS: 'false', WRANGLER_HIDE_BANNER: 'true', CLOUDFLARE_CF_FETCH_ENABLED: 'false', NO_COLOR: '1' };

/** state of the TTS started by the CLI section, used by the services after it */
const tts = { issuer: '', trustDomain: 'example.internal', clientId: 'my-mcp-server', secret: '', bundle: '' };
let aliceTxn = '';
/** a fresh Txn-Token for alice from that TTS (set by the CLI section): tests that start slow tools first (wrangler dev)
 * take theirs right before they use it, so a loaded machine cannot outlast its lifetime */
let mintAliceTxn: () => Promise<string> = () => Promise.reject(new Error('the CLI section did not run'));

afterAll(async () => {
  await stopAll();
  removeFolders();
});

function tamper(jwt: string): string {
  const [h, p, s] = jwt.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
  return `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'bob' })).toString('base64url')}.${s}`;
}

describe('the baton command, installed from its tarball (baton-tts)', () => {
  let dir: string;
  let work: string;
  let bin: string;
  const baton = (args: string[], o: { input?: string; env?: Record<string, string> } = {}) =>
    run(bin, args, { cwd: work, env: { BATON_CONFIG: '', PORT: '', ...o.env }, ...(o.input !== undefined ? { input: o.input } : {}), timeout: 60_000 });
  const listing = () => readdirSync(work, { recursive: true, encoding: 'utf8' }).sort();

  beforeAll(async () => {
    dir = freshFolder('cli');
    await install(dir, { 'baton-tts': true });
    work = join(dir, 'work');
    mkdirSync(work);
    bin = join(dir, 'node_modules/.bin/baton');
  });

  it('is compiled JavaScript: the bin is dist/cli/bin.js, and no TypeScript loader or compiler is installed', async () => {
    const pkg = JSON.parse(readFileSync(join(dir, 'node_modules/baton-tts/package.json'), 'utf8')) as { bin: Record<string, string>; files: string[] };
    expect(pkg.bin).toEqual({ baton: 'dist/cli/bin.js' });
    expect(pkg.files).toEqual(['dist']);
    const names = [...(await installed(dir)).keys()];
    for (const loader of ['tsx', 'esbuild', 'typescript', 'ts-node', 'vitest']) expect(names).not.toContain(loader);
    const files = readdirSync(join(dir, 'node_modules/baton-tts'), { recursive: true, encoding: 'utf8' });
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files.filter((f) => /test|bench|\.map$/.test(f))).toEqual([]);
    expect(files).toContain('LICENSE');
  });

  it('every command and subcommand answers --help with exit 0 and writes nothing (serve does not start)', async () => {
    const overview = await baton(['--help']);
    expect(overview.code).toBe(0);
    const commands = overview.stdout
      .split('\n')
      .filter((l) => /^ {2}[a-z]/.test(l))
      .map((l) => l.trim().split(/\s+/).filter((w, i, all) => /^[a-z]+$/.test(w) && all.slice(0, i).every((x) => /^[a-z]+$/.test(x))).join(' '));
    expect(commands).toEqual(['init', 'serve', 'pdp', 'keys generate', 'dev token', 'dev worker', 'token inspect', 'policy test', 'policy compile', 'policy build', 'secret hash']);
    const before = listing();
    for (const c of [...commands, 'keys', 'dev', 'token', 'policy', 'secret']) {
      const r = await baton([...c.split(' '), '--help']);
      expect(r.code, `${c} --help: ${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^usage: baton ${c}`));
    }
    expect(listing()).toEqual(before);
  });

  it('unknown options are usage errors naming them; serve without a configuration points at `baton init`', async () => {
    const bogus = await baton(['serve', '--bogus']);
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toContain("Unknown option '--bogus'");
    const none = await baton(['serve']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no configuration: ./baton.config.yaml does not exist');
    expect(none.stderr).toContain('baton init');
    expect(listing()).toEqual([]);
  });

  it('init writes a starter configuration and a dev key, and says what to do next', async () => {
    const port = await freePort();
    const r = await baton(['init', `--port=${port}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(listing().filter((f) => !f.startsWith('keys/'))).toEqual(['baton.config.yaml', 'keys']);
    expect(listing().filter((f) => f.endsWith('.jwk.json'))).toHaveLength(1);
    expect(r.stdout).toContain('next:');
    tts.secret = /client my-mcp-server: secret (\S+)/.exec(r.stdout)![1]!;
    tts.issuer = `http://127.0.0.1:${port}`;
    // the printed secret is the one whose hash the file holds, as `baton secret hash` (stdin) computes it
    const hash = await baton(['secret', 'hash'], { input: tts.secret });
    expect(hash.code).toBe(0);
    expect(readFileSync(join(work, 'baton.config.yaml'), 'utf8')).toContain(`secret: ${hash.stdout.trim()}`);
    expect(readFileSync(join(work, 'baton.config.yaml'), 'utf8')).not.toContain(tts.secret);
  });

  it('serve refuses --port=N off the issuer saying why, and serves on the configured port with the metadata right', async () => {
    const other = await freePort();
    const refused = await baton(['serve', `--port=${other}`]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`but the server would listen on port ${other}`);
    const server: Started = await startUntil(bin, ['serve'], { cwd: work, env: { BATON_CONFIG: '', PORT: '' }, ready: /serving on http/ });
    expect(server.output()).toContain(`TTS ${tts.issuer} serving on ${tts.issuer}`);
    const meta = (await (await fetch(`${tts.issuer}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(meta).toMatchObject({ issuer: tts.issuer, token_endpoint: `${tts.issuer}/token`, jwks_uri: `${tts.issuer}/.well-known/jwks.json`, revocation_endpoint: `${tts.issuer}/revoke` });
  });

  it('dev token, the exchange, and token inspect verifying the Txn-Token with the configuration', async () => {
    mintAliceTxn = async () => {
      const user = await baton(['dev', 'token', '--sub', 'alice', '--scope', 'orders:read']);
      expect(user.code, user.stderr).toBe(0);
      const r = await exchange(`${tts.issuer}/token`, tts.clientId, tts.secret, user.stdout.trim(), 'orders:read', tts.trustDomain);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return r.body['access_token'] as string;
    };
    aliceTxn = await mintAliceTxn();
    const inspect = await baton(['token', 'inspect', aliceTxn, '--config', 'baton.config.yaml']);
    expect(inspect.code, inspect.stdout + inspect.stderr).toBe(0);
    expect(inspect.stdout).toContain('verification: valid Txn-Token');
    expect(inspect.stdout).toContain('└─ my-mcp-server   (current actor)');
  });

  it('policy build compiles YAML policies into the bundle the services below load', async () => {
    copyFixture('policies', join(work, 'policies'));
    const r = await baton(['policy', 'build', 'policies', '--out', 'orders.bundle.json']);
    expect(r.code, r.stderr).toBe(0);
    tts.bundle = join(work, 'orders.bundle.json');
    const compile = await baton(['policy', 'compile', 'policies']);
    expect(compile.stdout).toContain('compiled 1 policies');
  });

  it('baton pdp serves the Cerbos HTTP API and AuthZEN over the same policies, from the installed package', async () => {
    const port = await freePort();
    const pdp: Started = await startUntil(bin, ['pdp', '--policies', 'policies', '--port', String(port)], { cwd: work, env: { BATON_CONFIG: '', PORT: '' }, ready: /PDP serving on http/ });
    expect(pdp.output()).toContain(`PDP serving on http://127.0.0.1:${port}`);
    const health = (await (await fetch(`http://127.0.0.1:${port}/_cerbos/health`)).json()) as Record<string, unknown>;
    expect(health).toEqual({ status: 'SERVING' });
    const bad = await fetch(`http://127.0.0.1:${port}/api/check/resources`, { method: 'POST', body: '{}' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { code: number }).code).toBe(3);
    await pdp.stop();
  });
});

describe('a plain Node ESM service (.mjs) with baton-tts-verify and baton-tts-policy', () => {
  let dir: string;
  let url: string;
  let service: Started;

  beforeAll(async () => {
    expect(aliceTxn, 'the CLI section minted a Txn-Token').not.toBe('');
    dir = freshFolder('node');
    await install(dir, { 'baton-tts-verify': true, 'baton-tts-policy': true });
    copyFixture('node-service', dir);
    writeFileSync(join(dir, 'policies.bundle.json'), readFileSync(tts.bundle));
    service = await startUntil(process.execPath, ['service.mjs'], { cwd: dir, env: { BATON_ISSUER: tts.issuer, BATON_TRUST_DOMAIN: tts.trustDomain }, ready: /listening on (http:\S+)/ });
    url = /listening on (http:\S+)/.exec(service.output())![1]!;
  });

  it('installs only what it uses: never ioredis, yaml, @hono/node-server, the server or the CLI', async () => {
    const names = [...(await installed(dir)).keys()].sort();
    for (const n of ['ioredis', 'yaml', '@hono/node-server', 'baton-tts', 'baton-tts-redis', 'baton-tts-client', 'baton-tts-mcp', 'tsx', 'esbuild']) expect(names).not.toContain(n);
    expect(names).toEqual(['@marcbachmann/cel-js', '@opentelemetry/api', 'baton-tts-jose', 'baton-tts-log', 'baton-tts-policy', 'baton-tts-store', 'baton-tts-verify', 'hono', 'jose', 'zod']);
  });

  it('on Node, the verifier is the node export condition (node:crypto signatures)', () => {
    expect(service.output()).toMatch(/verify entry file:\S+\/node_modules\/baton-tts-verify\/dist\/verify\/index\.node\.js/);
  });

  for (const prefix of ['', '/hono']) {
    it(`${prefix === '' ? 'verifyRequest' : 'the hono middleware'}: a real Txn-Token is verified and authorized, refusals say why`, async () => {
      const get = (path: string, headers: Record<string, string> = {}) => fetch(`${url}${prefix}${path}`, { headers });
      const own = await get('/orders/O-1', { 'Txn-Token': aliceTxn });
      expect(own.status).toBe(200);
      expect(await own.json()).toMatchObject({ sub: 'alice', actor: 'my-mcp-server', allowed: true, policy: 'resource.order.vdefault', rule: 'resource.order.vdefault#owner-reads' });
      const other = await get('/orders/O-2', { 'Txn-Token': aliceTxn });
      expect(other.status).toBe(403);
      expect(await other.json()).toMatchObject({ allowed: false, policy: 'resource.order.vdefault' });
      const missing = await get('/orders/O-1', { authorization: `Bearer ${aliceTxn}` });
      expect(missing.status).toBe(401);
      const forged = await get('/orders/O-1', { 'Txn-Token': tamper(aliceTxn) });
      expect(forged.status).toBe(401);
      if (prefix === '') {
        expect(await missing.json()).toEqual({ error: 'missing' });
        expect(await forged.json()).toEqual({ error: 'bad_signature' });
      } else {
        expect(missing.headers.get('www-authenticate')).toContain('missing');
        expect(forged.headers.get('www-authenticate')).toContain('bad_signature');
      }
    });
  }
});

describe('a TypeScript consumer with the strictest common options (skipLibCheck false, lib ES2022)', () => {
  it('type-checks every package entry against the published .d.ts with zero errors', async () => {
    const dir = freshFolder('ts');
    await install(dir, { ...Object.fromEntries(PACKAGES.map((n) => [n, true])), hono: true, yaml: true, '@types/node': true, '@modelcontextprotocol/sdk': true });
    copyFixture('ts-consumer', dir);
    const r = await run(process.execPath, [TSC, '-p', join(dir, 'tsconfig.json')], { cwd: dir });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
    const tsconfig = JSON.parse(readFileSync(join(dir, 'tsconfig.json'), 'utf8')) as { compilerOptions: Record<string, unknown> };
    expect(tsconfig.compilerOptions).toMatchObject({ moduleResolution: 'nodenext', strict: true, exactOptionalPropertyTypes: true, noPropertyAccessFromIndexSignature: true, noUncheckedIndexedAccess: true, lib: ['ES2022'], skipLibCheck: false });
  });
});

describe('a Cloudflare Worker with baton-tts-verify', () => {
  let dir: string;
  beforeAll(async () => {
    dir = freshFolder('worker');
    await install(dir, { 'baton-tts-verify': true, 'baton-tts-policy': true, hono: true });
    copyFixture('worker', dir);
    writeFileSync(join(dir, 'src/policies.bundle.json'), readFileSync(tts.bundle));
  });

  it('builds with wrangler deploy --dry-run: the Web Crypto path, no node:crypto, no YAML parser', async () => {
    const r = await run(process.execPath, [WRANGLER, 'deploy', '--dry-run', '--outdir', 'out'], { cwd: dir, env: QUIET_WRANGLER, timeout: 180_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const js = readFileSync(join(dir, 'out/index.js'), 'utf8');
    expect(js).not.toMatch(/node:crypto/);
    expect(js).not.toContain('installNodeJwsCrypto');
    expect(js).not.toContain('YAMLParseError');
    expect(js).toContain('txntoken+jwt');
  });

  it('serves in workerd (wrangler dev): the Txn-Token from the TTS is verified and authorized', async () => {
    const port = await freePort();
    const dev = await startUntil(process.execPath, [WRANGLER, 'dev', '--ip', '127.0.0.1', '--port', String(port), '--var', `BATON_ISSUER:${tts.issuer}`, '--var', `BATON_TRUST_DOMAIN:${tts.trustDomain}`], {
      cwd: dir,
      env: QUIET_WRANGLER,
      ready: /Ready on http/,
      timeout: 180_000,
    });
    try {
      const txn = await mintAliceTxn();
      const own = await fetch(`http://127.0.0.1:${port}/orders/O-1`, { headers: { 'Txn-Token': txn } });
      expect(own.status, dev.output()).toBe(200);
      expect(await own.json()).toEqual({ sub: 'alice', allowed: true, rule: 'resource.order.vdefault#owner-reads' });
      expect((await fetch(`http://127.0.0.1:${port}/orders/O-2`, { headers: { 'Txn-Token': txn } })).status).toBe(403);
      const forged = await fetch(`http://127.0.0.1:${port}/orders/O-1`, { headers: { 'Txn-Token': tamper(txn) } });
      expect(forged.status).toBe(401);
      expect(dev.output()).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n/); // no stack trace
    } finally {
      await dev.stop();
    }
  });
});

describe('what each package pulls in', () => {
  it('alone in a fresh folder: the packages installed and their size, never what packaging/packages.json forbids', async () => {
    const rows: { name: string; count: number; bytes: number; packages: string[] }[] = [];
    for (const name of PACKAGES) {
      const dir = freshFolder(`alone-${name}`);
      await install(dir, { [name]: true });
      const all = [...(await installed(dir)).keys()].sort();
      for (const bad of MUST_NOT_PULL[name] ?? []) expect(all, `${name} pulls in ${bad}`).not.toContain(bad);
      rows.push({ name, count: all.length, bytes: sizeOf(join(dir, 'node_modules')), packages: all });
    }
    const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;
    const table = ['| package | packages installed (itself included) | node_modules |', '|---|---|---|', ...rows.map((r) => `| \`${r.name}\` | ${r.count}: ${r.packages.join(', ')} | ${mib(r.bytes)} |`)].join('\n');
    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    writeFileSync(join(ROOT, 'test-results/package-footprint.md'), `${new Date().toISOString().slice(0, 10)}, npm run test:packages (npm ${(await run('npm', ['--version'], { cwd: ROOT })).stdout.trim()}, Node ${process.version}):\n\n${table}\n`);
    console.log(table);
    const verify = rows.find((r) => r.name === 'baton-tts-verify')!;
    expect(verify.packages).toEqual(['@marcbachmann/cel-js', '@opentelemetry/api', 'baton-tts-jose', 'baton-tts-log', 'baton-tts-policy', 'baton-tts-store', 'baton-tts-verify', 'hono', 'jose', 'zod']);
  });
});
