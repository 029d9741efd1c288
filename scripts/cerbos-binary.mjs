#!/usr/bin/env node
// Install the real Cerbos binary on demand (the oracle of the differential policy test) and print its path.
//   node scripts/cerbos-binary.mjs            -> prints node_modules/.cache/cerbos/<version>/cerbos
// The binary comes from the npm package @cerbos/cerbos-linux-x64 (pinned), fetched with `npm pack` into a temporary
// directory, so package.json and package-lock.json are never touched. Cached in node_modules/.cache, so `npm ci`
// (which removes node_modules) starts fresh and a warm checkout costs nothing.
// Exit codes: 0 = path printed on stdout; 1 = the binary cannot be had here (reason on stderr).
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const VERSION = '0.55.0';
const PKG = '@cerbos/cerbos-linux-x64';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cacheDir = join(root, 'node_modules', '.cache', 'cerbos', VERSION);
const target = join(cacheDir, 'cerbos');

function fail(msg) {
  process.stderr.write(`cerbos-binary: ${msg}\n`);
  process.exit(1);
}

function works(bin) {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 15_000 });
  return r.status === 0 && r.stdout.includes(VERSION);
}

if (existsSync(target) && works(target)) {
  process.stdout.write(`${target}\n`);
  process.exit(0);
}

if (process.platform !== 'linux' || process.arch !== 'x64') {
  fail(`${PKG} only runs on linux/x64 (this is ${process.platform}/${process.arch})`);
}

const work = mkdtempSync(join(tmpdir(), 'cerbos-pack-'));
try {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  // --ignore-scripts: we only want the tarball; no lifecycle scripts of anything run here.
  const pack = spawnSync(npm, ['pack', `${PKG}@${VERSION}`, '--pack-destination', work, '--ignore-scripts', '--silent'], {
    cwd: work,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, npm_config_loglevel: 'error', npm_config_audit: 'false', npm_config_fund: 'false' },
  });
  if (pack.error) fail(`npm pack ${PKG}@${VERSION} could not run: ${pack.error.message}`);
  if (pack.status !== 0) fail(`npm pack ${PKG}@${VERSION} failed (exit ${pack.status}): ${(pack.stderr || '').trim().slice(0, 500)}`);
  const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'));
  if (!tgz) fail(`npm pack ${PKG}@${VERSION} produced no tarball`);

  const tar = spawnSync('tar', ['-xzf', join(work, tgz), '-C', work], { encoding: 'utf8', timeout: 120_000 });
  if (tar.error || tar.status !== 0) fail(`could not extract ${tgz}: ${tar.error?.message ?? (tar.stderr || '').trim()}`);

  // The package's layout: package/cerbos-linux-x64 (the Go binary, ~100 MB). Accept `cerbos` too, to be safe.
  const found = [];
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const full = join(d, name);
      const st = statSync(full);
      if (st.isDirectory()) walk(full);
      else if ((name === 'cerbos' || name === 'cerbos-linux-x64') && st.size > 1_000_000) found.push(full);
    }
  };
  walk(join(work, 'package'));
  if (found.length === 0) fail(`${tgz} holds no cerbos binary`);

  mkdirSync(cacheDir, { recursive: true });
  // Copy next to the target, then rename: a concurrent reader never sees half a binary.
  const partial = `${target}.${process.pid}.partial`;
  copyFileSync(found[0], partial);
  chmodSync(partial, 0o755);
  renameSync(partial, target);
} finally {
  rmSync(work, { recursive: true, force: true });
}

if (!works(target)) fail(`${target} does not run (\`cerbos --version\` failed or is not ${VERSION})`);
process.stdout.write(`${target}\n`);
