#!/usr/bin/env node
// Gzips the Worker bundle written by `npx wrangler deploy --dry-run --outdir dist` and fails over the limit.
// usage: node scripts/check-bundle-size.mjs [DIR=dist] [--limit KiB=250] [--goal KiB=150]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  if (i < 0) return def;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v <= 0) {
    console.error(`${name} needs a number of KiB`);
    process.exit(2);
  }
  args.splice(i, 2);
  return v;
};
const limitKiB = opt('--limit', 250);
const goalKiB = opt('--goal', 150);
const dir = args[0] ?? 'dist';

let files;
try {
  files = readdirSync(dir).filter((n) => /\.(m?js|wasm)$/.test(n) && statSync(join(dir, n)).isFile());
} catch {
  console.error(`${dir}: not found (run: npx wrangler deploy --dry-run --outdir ${dir})`);
  process.exit(1);
}
// The main module is worker.js (or index.js); every other module wrangler emitted is uploaded too, so all count.
if (!files.some((n) => n === 'worker.js' || n === 'index.js')) {
  console.error(`${dir}: no worker.js/index.js (found: ${files.join(', ') || 'nothing'})`);
  process.exit(1);
}
let raw = 0;
let gz = 0;
for (const n of files) {
  const buf = readFileSync(join(dir, n));
  const z = gzipSync(buf, { level: 9 }).length;
  raw += buf.length;
  gz += z;
  console.log(`  ${n}: ${(buf.length / 1024).toFixed(1)} KiB, gzip ${(z / 1024).toFixed(1)} KiB`);
}
const kib = gz / 1024;
console.log(`worker bundle: ${(raw / 1024).toFixed(1)} KiB, gzip ${kib.toFixed(1)} KiB (limit ${limitKiB} KiB, goal ${goalKiB} KiB)`);
if (kib > limitKiB) {
  console.error(`FAIL: gzipped bundle ${kib.toFixed(1)} KiB exceeds ${limitKiB} KiB`);
  process.exit(1);
}
if (kib > goalKiB) console.log(`note: above the ${goalKiB} KiB goal`);
