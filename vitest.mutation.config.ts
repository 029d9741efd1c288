// The vitest run inside StrykerJS (stryker.config.mjs): only the fast test files that exercise the module under
// mutation (scripts/mutation-modules.json), never the Workers or packages suites. Not for everyday use: `npm test`.
import { readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

const modules = JSON.parse(readFileSync(new URL('./scripts/mutation-modules.json', import.meta.url), 'utf8')) as Record<string, { tests: string[] }>;
const name = process.env.BATON_MUTATION_MODULE ?? '';
const mod = modules[name];
if (mod === undefined) throw new Error(`BATON_MUTATION_MODULE must be one of: ${Object.keys(modules).join(', ')} (got "${name}")`);

export default defineConfig({
  test: {
    include: mod.tests,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    onConsoleLog: () => false,
    globalSetup: ['test/setup/redis.ts'],
  },
});
