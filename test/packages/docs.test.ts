/**
 * Docs that run (issue 12): every fenced code block of README.md and of each package README (packaging/packages.json)
 * is executed or type-checked here. The line before a block says how, as an HTML comment:
 *   <!-- test: typecheck -->            TypeScript, compiled against the packed packages with the strictest common
 *                                       options (test/packages/fixtures/ts-consumer/tsconfig.json); `lib-dom` adds
 *                                       the DOM lib, for snippets that import the MCP SDK's McpServer or
 *                                       @hono/node-server (their own types use DOM names; Baton's do not)
 *   <!-- test: run -->                  shell, run by bash: README.md's in a copy of this checkout (its tracked and
 *                                       new files, no node_modules: the blocks install what they need, as on a fresh
 *                                       clone), a package README's in a fresh folder
 *   <!-- test: install -->              shell, run in a fresh folder (README.md) or the package's folder; on npm
 *                                       install lines each Baton package name becomes its tarball, plus the tarballs
 *                                       of the Baton packages it depends on (they are not on the registry yet)
 *   modifiers: `background until "TEXT"` (a server: started, awaited, stopped at the end), `expect "TEXT"`
 *   <!-- test: ci -->                   shell that .ci/run runs line by line on a clean clone (checked here)
 * The only other change to what a block says: ports. 8080 and 8787 become free ports (also in the copy's
 * baton.config.yaml, and BATON_WORKER_PORT for npm run dev:worker), as tests never bind fixed ports.
 * Also checked: README.md's table of CLI commands is the command table of the CLI.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandTable } from '../../src/cli/main.js';
import { copyFixture, freePort, freshFolder, install, PACKAGES, removeFolders, ROOT, run, startUntil, stopAll, tarball, withBatonDependencies } from './helpers.js';

interface Block {
  file: string;
  line: number;
  lang: string;
  code: string;
  directive: string | undefined;
}

const MAP = JSON.parse(readFileSync(join(ROOT, 'packaging/packages.json'), 'utf8')) as { packages: { name: string; readme: string }[] };
const DOCS = ['README.md', ...MAP.packages.map((p) => p.readme)];

function blocks(file: string): Block[] {
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(\S*)\s*$/.exec(lines[i]!);
    if (open === null) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i]!); i++) body.push(lines[i]!.slice(open[1]!.length));
    const prev = lines.slice(0, start).reverse().find((l) => l.trim() !== '');
    const directive = /^\s*<!--\s*test:\s*(.*?)\s*-->\s*$/.exec(prev ?? '')?.[1];
    out.push({ file, line: start + 1, lang: open[2]!, code: body.join('\n'), directive });
  }
  return out;
}

const ALL = DOCS.flatMap(blocks);
const where = (b: Block) => `${b.file}:${b.line}`;
const kind = (b: Block) => b.directive?.split(/[\s,]+/)[0];
const quoted = (b: Block, key: string) => new RegExp(`${key}\\s+"([^"]+)"`).exec(b.directive ?? '')?.[1];

afterAll(async () => {
  await stopAll();
  removeFolders();
});

describe('every code block of the READMEs says how it is tested', () => {
  it('README.md and every package README: a test directive before each block, of a known kind', () => {
    const missing = ALL.filter((b) => !['typecheck', 'run', 'install', 'ci'].includes(kind(b) ?? '')).map((b) => `${where(b)} (${b.lang || 'no language'}): ${b.directive ?? 'no <!-- test: ... --> line before it'}`);
    expect(missing).toEqual([]);
    expect(ALL.filter((b) => kind(b) === 'typecheck' && !['ts', 'typescript'].includes(b.lang)).map(where)).toEqual([]);
    expect(ALL.filter((b) => ['run', 'install', 'ci'].includes(kind(b)!) && !['sh', 'bash', 'shell'].includes(b.lang)).map(where)).toEqual([]);
  });

  it('README.md lists every CLI command with its summary, as `baton --help` does', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const rows = [...readme.matchAll(/^\| `(baton [^`]+)` \| (.+?) \|$/gm)].map((m) => ({ command: m[1]!, summary: m[2]! }));
    expect(rows).toEqual(commandTable());
  });

  it('ci blocks: .ci/run runs each of their commands', () => {
    const ci = readFileSync(join(ROOT, '.ci/run'), 'utf8').split('\n').map((l) => l.trim());
    for (const b of ALL.filter((x) => kind(x) === 'ci'))
      for (const cmd of b.code.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter((l) => l !== '' && !l.startsWith('#')))
        expect(ci, `${where(b)}: ${cmd}`).toContain(cmd);
  });
});

describe('TypeScript blocks type-check against the packed packages (strict, skipLibCheck false)', () => {
  it('each block compiles as its own module', async () => {
    const dir = freshFolder('docs-ts');
    await install(dir, { ...Object.fromEntries(PACKAGES.map((n) => [n, true])), hono: true, yaml: true, zod: true, '@types/node': true, '@hono/node-server': true, '@modelcontextprotocol/sdk': true });
    copyFixture('ts-consumer/tsconfig.json', join(dir, 'tsconfig.json'));
    const base = JSON.parse(readFileSync(join(dir, 'tsconfig.json'), 'utf8')) as { compilerOptions: Record<string, unknown> };
    const ts = ALL.filter((b) => kind(b) === 'typecheck');
    expect(ts.length).toBeGreaterThan(0);
    const names = new Map<string, Block>();
    for (const b of ts) {
      const name = `${b.file.replace(/[/.]/g, '_')}_${b.line}.ts`;
      names.set(name, b);
      writeFileSync(join(dir, b.directive!.includes('lib-dom') ? `dom_${name}` : name), `${b.code}\nexport {};\n`);
    }
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: base.compilerOptions, include: ['*.ts'], exclude: ['dom_*.ts'] }));
    writeFileSync(join(dir, 'tsconfig.dom.json'), JSON.stringify({ compilerOptions: { ...base.compilerOptions, lib: ['ES2022', 'DOM', 'DOM.Iterable'] }, include: ['dom_*.ts'] }));
    for (const cfg of ['tsconfig.json', 'tsconfig.dom.json']) {
      const r = await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(dir, cfg)], { cwd: dir });
      // name the README line of each error
      const report = (r.stdout + r.stderr).replace(/(?:dom_)?([A-Za-z0-9_]+_\d+\.ts)/g, (m, n: string) => (names.has(n) ? where(names.get(n)!) : m));
      expect(report, cfg).toBe('');
    }
  });
});

/** Runs the shell blocks of one document, in order, in its context. Returns the copy of the checkout, if one. */
async function runBlocks(doc: string, o: { repoCopy: boolean }): Promise<string | undefined> {
  const list = blocks(doc).filter((b) => ['run', 'install'].includes(kind(b) ?? ''));
  if (list.length === 0) return;
  // free ports instead of 8080 and 8787, one pair per folder (the checkout copy and the npm folder run side by side)
  const portsOf = async () => new Map([['8080', String(await freePort())], ['8787', String(await freePort())]]);
  const folderPorts = { repo: await portsOf(), npm: await portsOf() };
  let ports = folderPorts.repo;
  const subst = (s: string) => s.replace(/\b(8080|8787)\b/g, (p) => ports.get(p)!);
  // on `npm install` lines, Baton's package names become their tarballs, with the tarballs of the Baton packages they
  // depend on (what the registry would serve)
  const NAME = /(?<![\w/.@-])(baton-tts(?:-[a-z]+)?)(?![\w.-])/g;
  const tarballs = (s: string) =>
    s
      .split('\n')
      .map((l) => {
        if (!/\bnpm (i|install)\b/.test(l)) return l;
        const named = [...l.replace(/\s+#.*$/, '').matchAll(NAME)].map((m) => m[1]!).filter((n) => PACKAGES.includes(n));
        const extra = withBatonDependencies(named).filter((n) => !named.includes(n));
        const withNames = l.replace(NAME, (n) => (PACKAGES.includes(n) ? tarball(n) : n));
        return extra.length === 0 ? withNames : withNames.replace(/(\s+#.*)?$/, ` ${extra.map(tarball).join(' ')}$1`);
      })
      .join('\n');
  let copy: string | undefined;
  if (o.repoCopy) {
    copy = freshFolder('docs-repo');
    // the checkout's tracked and new (not ignored) files: what a clone of this commit holds, without node_modules
    const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter((f) => f !== '');
    for (const f of files) {
      mkdirSync(dirname(join(copy, f)), { recursive: true });
      try {
        writeFileSync(join(copy, f), readFileSync(join(ROOT, f)));
      } catch {
        /* a deleted file still listed by git */
      }
    }
    writeFileSync(join(copy, 'baton.config.yaml'), subst(readFileSync(join(copy, 'baton.config.yaml'), 'utf8')));
  }
  const npmFolder = freshFolder(`docs-${doc.replace(/\W+/g, '-')}`);
  writeFileSync(join(npmFolder, 'package.json'), JSON.stringify({ name: 'docs-consumer', private: true, type: 'module' }));
  for (const b of list) {
    const cwd = kind(b) === 'install' || copy === undefined ? npmFolder : copy;
    ports = cwd === npmFolder ? folderPorts.npm : folderPorts.repo;
    const env = { BATON_WORKER_PORT: ports.get('8787')!, BATON_CONFIG: '', PORT: '', WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', NO_COLOR: '1', npm_config_audit: 'false', npm_config_fund: 'false' };
    const script = `set -euo pipefail\n${kind(b) === 'install' ? tarballs(subst(b.code)) : subst(b.code)}`;
    const until = quoted(b, 'until');
    if (b.directive!.includes('background')) {
      await startUntil('bash', ['-c', script], { cwd, env, ready: new RegExp(subst(until!).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), timeout: 300_000 });
      continue;
    }
    const r = await run('bash', ['-c', script], { cwd, env, timeout: 300_000 });
    expect(r.code, `${where(b)}:\n${r.stdout}\n${r.stderr}`).toBe(0);
    const want = quoted(b, 'expect');
    if (want !== undefined) expect(r.stdout + r.stderr, where(b)).toContain(subst(want));
  }
  await stopAll();
  return copy;
}

describe('shell blocks run as written', () => {
  beforeAll(() => {
    expect(ALL.some((b) => kind(b) === 'run')).toBe(true);
  });

  it('README.md, in a copy of the checkout (npm ci, the demo, npm start, the exchange, Workers locally) and a fresh npm folder', { timeout: 1_200_000 }, async () => {
    const copy = await runBlocks('README.md', { repoCopy: true });
    // then a plain `npx wrangler dev` there, without the variables of npm run dev:worker or of CI (no network here): it
    // reads .env, so no Request.cf download is tried and no stack trace printed; the Worker answers
    const port = await freePort();
    const plain = { CLOUDFLARE_CF_FETCH_ENABLED: undefined, WRANGLER_SEND_METRICS: undefined, WRANGLER_HIDE_BANNER: undefined, CI: undefined };
    const dev = await startUntil('npx', ['wrangler', 'dev', '--port', String(port)], { cwd: copy!, env: plain, ready: /Ready on http/, timeout: 180_000 });
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    await new Promise((r) => setTimeout(r, 1000));
    await dev.stop();
    expect(health.status, dev.output()).toBe(200);
    expect(dev.output()).not.toContain('Request.cf');
    expect(dev.output()).not.toMatch(/^\s+at .+[:(]\d+:\d+\)?$/m);
  });

  for (const p of MAP.packages)
    it(`${p.readme} (${p.name}), in a fresh folder`, async () => {
      await runBlocks(p.readme, { repoCopy: false });
    });
});
