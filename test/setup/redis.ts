/**
 * vitest globalSetup: decides which Redis the tests use.
 * 1. 127.0.0.1:6379 answers PING: use it.
 * 2. else a `redis-server` binary exists: start a private one on a free port, stop it at teardown.
 * 3. else: under CI=true fail the run; otherwise print a notice and let the Redis suites skip.
 * Under CI=true the `redis-server` binary must exist even when 6379 answers (the fault suites start their own).
 * The decision reaches the tests through `provide('batonRedisUrl')` and `process.env.BATON_TEST_REDIS_URL`.
 */
import type { TestProject } from 'vitest/node';
import { hasRedisServer, pingRedis, type PrivateRedis, startPrivateRedis } from '../helpers/redis.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let url = '';
  let own: PrivateRedis | undefined;
  const preset = process.env.BATON_TEST_REDIS_URL;
  if (preset) {
    url = preset;
  } else if (await pingRedis('127.0.0.1', 6379, 1000)) {
    url = 'redis://127.0.0.1:6379';
  } else if (await hasRedisServer()) {
    own = await startPrivateRedis();
    url = own.url;
    console.log(`[redis setup] 127.0.0.1:6379 did not answer: started a private redis-server on ${url}`);
  } else if (process.env.CI === 'true') {
    throw new Error('[redis setup] CI=true but no Redis: 127.0.0.1:6379 did not answer and redis-server is not installed');
  } else {
    console.warn('\n[redis setup] NOTICE: no Redis available (127.0.0.1:6379 silent, no redis-server): Redis suites SKIP\n');
  }
  // The fault and partition suites start private redis-servers of their own (they kill and freeze them): outside CI a
  // missing binary skips them with a notice; under CI=true it fails the run instead of letting them skip silently.
  if (process.env.CI === 'true' && own === undefined && !(await hasRedisServer()))
    throw new Error('[redis setup] CI=true but redis-server is not installed: the Redis fault and partition suites need it (apt-get install redis-server)');
  if (url) process.env.BATON_TEST_REDIS_URL = url;
  project.provide('batonRedisUrl', url);
  return async () => {
    await own?.stop();
  };
}
