/**
 * vitest globalSetup: the data beside the checkout that suites read (`../shared`: the Txn-Token profile, the Cerbos
 * conformance data). Outside CI a missing folder lets those suites skip, each with its own notice; under CI=true it
 * fails the run here, once, naming what is missing (issue 18: no suite skips silently in CI).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const NEEDED = ['spec/TXN-TOKENS.md', 'spec/POLICY-ENGINE.md', 'conformance/cerbos/testdata'];

export default function setup(): void {
  const shared = fileURLToPath(new URL('../../../shared/', import.meta.url));
  const missing = NEEDED.filter((p) => !existsSync(shared + p));
  if (missing.length === 0) return;
  const what = missing.map((p) => shared + p).join(', ');
  if (process.env.CI === 'true') throw new Error(`[shared setup] CI=true but the shared data is missing: ${what} (CI runs with ../shared beside the clone)`);
  console.warn(`\n[shared setup] NOTICE: ${what} absent: the suites that read it SKIP\n`);
}
