#!/usr/bin/env node
// `npm run build`: compiles src/ to build/ (ES modules + .d.ts) with tsconfig.build.json. What `npm start`, the
// `baton` command of a checkout (bin/baton.mjs) and the npm packages (scripts/pack.mjs) run: no TypeScript loader at
// run time. `--if-stale` compiles only when a source file or a tsconfig is newer than the last build (a few ms when
// nothing changed), which is what bin/baton.mjs does before every command.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const STAMP = join(ROOT, 'build', '.built');

function newestSource() {
  let newest = 0;
  const walk = (d) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (n.endsWith('.ts') && !n.endsWith('.test.ts')) newest = Math.max(newest, st.mtimeMs);
    }
  };
  walk(join(ROOT, 'src'));
  for (const f of ['tsconfig.json', 'tsconfig.build.json', 'package.json']) newest = Math.max(newest, statSync(join(ROOT, f)).mtimeMs);
  return newest;
}

export function isStale() {
  return !existsSync(STAMP) || statSync(STAMP).mtimeMs < newestSource();
}

/** Compiles src/ to build/. Returns true on success (tsc's errors are printed). */
export function build({ say = (m) => process.stderr.write(`${m}\n`) } = {}) {
  const before = Date.now();
  try {
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  } catch {
    say('build: tsc failed (see above); nothing was started');
    return false;
  }
  // the stamp carries the time the build started: a source saved while tsc ran is newer, so the next run rebuilds
  writeFileSync(STAMP, `${new Date(before).toISOString()}\n`);
  utimesSync(STAMP, before / 1000, before / 1000);
  say(`build: compiled src/ to build/ in ${((Date.now() - before) / 1000).toFixed(1)} s`);
  return true;
}

export function buildIfStale(o = {}) {
  if (!existsSync(join(ROOT, 'node_modules/typescript/bin/tsc'))) {
    if (existsSync(STAMP)) return true; // an installed copy without dev tools: run what was built
    process.stderr.write('build: TypeScript is not installed (run npm ci)\n');
    return false;
  }
  return isStale() ? build(o) : true;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const ok = process.argv.includes('--if-stale') ? buildIfStale() : build();
  process.exitCode = ok ? 0 : 1;
}
