/**
 * vitest globalSetup: decides which Redis the tests use.
 * 1. 127.0.0.1:6379 answers PING: use it.
 * 2. else a `redis-server` binary exists: start a private one on a free port, stop it at teardown.
 * 3. else: under CI=true fail the run; otherwise print a notice and let the Redis suites skip.
 * The decision reaches the tests through `provide('batonRedisUrl')` and `process.env.BATON_TEST_REDIS_URL`.
 */
import type { TestProject } from 'vitest/node';
import { hasRedisServer, pingRedis, startPrivateRedis } from '../helpers/redis.js';
import type { PrivateRedis } from '../helpers/redis.js';

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
  if (url) process.env.BATON_TEST_REDIS_URL = url;
  project.provide('batonRedisUrl', url);
  return async () => {
    await own?.stop();
  };
}
