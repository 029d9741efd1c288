/**
 * vitest globalSetup of the consumer tests (npm run test:packages): packs every package into dist/packages/ from a
 * clean build of the current sources (scripts/pack.mjs), so the tests always install what `npm run pack` makes now.
 */
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';

export default function setup(): void {
  const root = resolve(import.meta.dirname, '../..');
  execFileSync(process.execPath, [join(root, 'scripts/pack.mjs')], { cwd: root, stdio: 'inherit' });
}
