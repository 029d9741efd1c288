/**
 * PostgreSQL for tests: the connection string chosen by the global setup (`test/setup/postgres.ts`), and a private
 * server (Debian's PostgreSQL binaries, a throw-away data directory, trust authentication, a free port on 127.0.0.1)
 * for when 127.0.0.1:5432 does not answer. Tests use their own random schema and drop it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';
import { freePort } from './net.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** postgres:// URL of the PostgreSQL the tests use; '' when none is available (PostgreSQL suites skip). */
    batonPostgresUrl: string;
  }
}

export const POSTGRES_SKIP_REASON = 'no PostgreSQL: 127.0.0.1:5432 did not answer and no PostgreSQL binaries were found (see test/setup/postgres.ts)';

/** The PostgreSQL the tests may use, or undefined (then PostgreSQL suites skip, with a notice). */
export function postgresUrl(): string | undefined {
  let provided: string | undefined;
  try {
    provided = inject('batonPostgresUrl');
  } catch {
    provided = undefined;
  }
  const url = provided || process.env.BATON_TEST_POSTGRES_URL;
  return url ? url : undefined;
}

/** true when `url` accepts a connection and a query within `timeoutMs`. */
export async function pingPostgres(url: string, timeoutMs = 2000): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** The directory of Debian's PostgreSQL binaries (newest version), if installed. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

export interface PrivatePostgres {
  url: string;
  stop(): Promise<void>;
}

/**
 * A private PostgreSQL server in a temporary directory, on a free port, trust authentication, database `test`.
 * initdb refuses to run as root: as root the server runs as the `postgres` user (created by the Debian package).
 */
export async function startPrivatePostgres(bin: string): Promise<PrivatePostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'baton-pg-'));
  chmodSync(dir, 0o777);
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  const run = (cmd: string, args: string[]) => {
    const full = join(bin, cmd);
    const r = asRoot ? spawnSync('runuser', ['-u', 'postgres', '--', full, ...args], { encoding: 'utf8' }) : spawnSync(full, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} failed: ${(r.stderr || r.stdout || String(r.error)).trim().slice(-800)}`);
  };
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  run('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '30', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
  const base = `postgres://postgres@127.0.0.1:${port}`;
  const admin = new pg.Client({ connectionString: `${base}/postgres` });
  await admin.connect();
  await admin.query('CREATE DATABASE test');
  await admin.end();
  return {
    url: `${base}/test`,
    async stop() {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Install Debian's PostgreSQL (root, apt-get): for CI machines that lack it. */
export function installPostgres(): void {
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore' });
  execFileSync('apt-get', ['install', '-y', '-qq', 'postgresql'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}
