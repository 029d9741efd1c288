/**
 * vitest globalSetup: decides which nginx the forward-auth tests use (Debian's package `nginx`).
 * 1. the binary is installed: use it (each test starts its own nginx on a free port).
 * 2. else under CI=true: install it with apt-get; if that fails, fail the run.
 * 3. else: print a notice and let the nginx suites skip.
 * The decision reaches the tests through `provide('batonNginx')`.
 */
import type { TestProject } from 'vitest/node';
import { findNginx, installNginx } from '../helpers/nginx.js';

export default function setup(project: TestProject): void {
  let bin = findNginx();
  if (bin === undefined && process.env.CI === 'true') {
    console.log('[nginx setup] nginx is not installed: installing Debian\'s nginx');
    try {
      installNginx();
    } catch (e) {
      throw new Error(`[nginx setup] CI=true but nginx could not be installed: ${(e as Error).message}`);
    }
    bin = findNginx();
    if (bin === undefined) throw new Error('[nginx setup] CI=true but nginx is still not installed after apt-get install nginx');
  }
  if (bin === undefined) console.warn('\n[nginx setup] NOTICE: nginx is not installed (apt-get install nginx): the forward-auth suite with a real nginx SKIPS\n');
  project.provide('batonNginx', bin ?? '');
}
