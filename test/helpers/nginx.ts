/**
 * A real nginx for tests (Debian's package `nginx`): where its binary is (the global setup, `test/setup/nginx.ts`,
 * decides and installs it under CI), and a private nginx on a free loopback port with a configuration written for
 * the test, in the foreground as one process, stopped at the end.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { freePort } from './net.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** path of the nginx binary the tests use; '' when none is available (nginx suites skip) */
    batonNginx: string;
  }
}

export const NGINX_SKIP_REASON = 'no nginx: the Debian package nginx is not installed (see test/setup/nginx.ts)';

/** The nginx binary, if installed. */
export function findNginx(): string | undefined {
  for (const p of ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx']) if (existsSync(p)) return p;
  return undefined;
}

/** Installs Debian's nginx (CI only); the package's service is not started (no init system, or policy-rc.d). */
export function installNginx(): void {
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore' });
  execFileSync('apt-get', ['install', '-y', '-qq', 'nginx'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

/** The binary chosen by the global setup, else found here; undefined: nginx suites skip (never under CI: setup fails). */
export function nginxBinary(): string | undefined {
  let provided: string | undefined;
  try {
    provided = inject('batonNginx');
  } catch {
    provided = undefined;
  }
  return provided || findNginx();
}

export interface PrivateNginx {
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts nginx with `server` as the body of its one `server { }` block (`listen` is added), temp paths, pid and logs
 * in a fresh directory. Resolves once it accepts connections; rejects with its error log when it does not start.
 */
export async function startNginx(bin: string, server: string): Promise<PrivateNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'baton-nginx-'));
  mkdirSync(join(dir, 'tmp'));
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  const t = join(dir, 'tmp');
  writeFileSync(
    conf,
    `daemon off;\nmaster_process off;\nworker_processes 1;\npid ${join(dir, 'nginx.pid')};\nerror_log ${join(dir, 'error.log')} warn;\n` +
      `events { worker_connections 256; }\nhttp {\n  access_log off;\n  client_body_temp_path ${t}/body;\n  proxy_temp_path ${t}/proxy;\n` +
      `  fastcgi_temp_path ${t}/fastcgi;\n  uwsgi_temp_path ${t}/uwsgi;\n  scgi_temp_path ${t}/scgi;\n` +
      `  server {\n    listen 127.0.0.1:${port};\n${server}\n  }\n}\n`,
  );
  const test = spawnSync(bin, ['-t', '-p', dir, '-c', conf], { encoding: 'utf8' });
  if (test.status !== 0) throw new Error(`nginx -t failed: ${test.stderr.trim().slice(-1000)}`);
  const child: ChildProcess = spawn(bin, ['-p', dir, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${readLog(dir)}`);
    try {
      await fetch(url, { signal: AbortSignal.timeout(500) });
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`nginx did not start on ${url}: ${readLog(dir)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        const done = () => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        };
        if (child.exitCode !== null) return done();
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(timer);
          done();
        });
        child.kill('SIGQUIT');
      }),
  };
}

function readLog(dir: string): string {
  try {
    return readFileSync(join(dir, 'error.log'), 'utf8').trim().slice(-1000);
  } catch {
    return '(no error log)';
  }
}
