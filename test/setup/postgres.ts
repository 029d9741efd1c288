/**
 * vitest globalSetup: decides which PostgreSQL the tests use.
 * 1. postgres://postgres@127.0.0.1:5432/test answers: use it.
 * 2. else Debian's PostgreSQL binaries exist (under CI=true they are installed with apt-get when missing): start a
 *    private server on a free port, stop it at teardown.
 * 3. else: under CI=true fail the run; otherwise print a notice and let the PostgreSQL suites skip.
 * The decision reaches the tests through `provide('batonPostgresUrl')` and `process.env.BATON_TEST_POSTGRES_URL`.
 */
import type { TestProject } from 'vitest/node';
import { installPostgres, pingPostgres, postgresBinDir, startPrivatePostgres, type PrivatePostgres } from '../helpers/postgres.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let url = '';
  let own: PrivatePostgres | undefined;
  const isCI = process.env.CI === 'true';
  const preset = process.env.BATON_TEST_POSTGRES_URL;
  const shared = 'postgres://postgres@127.0.0.1:5432/test';
  if (preset) url = preset;
  else if (await pingPostgres(shared)) url = shared;
  else {
    let bin = postgresBinDir();
    if (!bin && isCI) {
      console.log('[postgres setup] 127.0.0.1:5432 did not answer and PostgreSQL is not installed: installing Debian\'s postgresql');
      installPostgres();
      bin = postgresBinDir();
    }
    if (bin) {
      own = await startPrivatePostgres(bin);
      url = own.url;
      console.log(`[postgres setup] 127.0.0.1:5432 did not answer: started a private PostgreSQL on ${url}`);
    } else if (isCI) {
      throw new Error('[postgres setup] CI=true but no PostgreSQL: 127.0.0.1:5432 did not answer and it could not be installed');
    } else {
      console.warn('\n[postgres setup] NOTICE: no PostgreSQL available (127.0.0.1:5432 silent, no binaries): PostgreSQL suites SKIP\n');
    }
  }
  if (url) process.env.BATON_TEST_POSTGRES_URL = url;
  project.provide('batonPostgresUrl', url);
  return async () => {
    await own?.stop();
  };
}
