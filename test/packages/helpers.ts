// Helpers of the consumer tests: fresh folders outside the repository, npm installs from the packed tarballs (no
// workspace links), processes started and stopped by their own pid.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');
export const TARBALLS = join(ROOT, 'dist/packages');
export const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const MAP = JSON.parse(readFileSync(join(ROOT, 'packaging/packages.json'), 'utf8')) as { packages: { name: string; mustNotPull?: string[] }[] };
export const PACKAGES = MAP.packages.map((p) => p.name);
export const MUST_NOT_PULL = Object.fromEntries(MAP.packages.map((p) => [p.name, p.mustNotPull ?? []]));
/** the root package.json's exact versions of third-party packages the consumers install beside Baton's */
const ROOT_PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
export const pinned = (name: string): string => ROOT_PKG.dependencies[name] ?? ROOT_PKG.devDependencies[name] ?? 'latest';

/** `names` and every Baton package they depend on, from the manifests scripts/pack.mjs generated (build/packages/). */
export function withBatonDependencies(names: readonly string[]): string[] {
  const out = new Set<string>();
  const visit = (n: string) => {
    if (out.has(n) || !PACKAGES.includes(n)) return;
    out.add(n);
    const m = JSON.parse(readFileSync(join(ROOT, 'build/packages', n, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    for (const d of Object.keys(m.dependencies ?? {})) visit(d);
  };
  names.forEach(visit);
  return [...out];
}

export function tarball(name: string): string {
  return join(TARBALLS, `${name}-${VERSION}.tgz`);
}

const folders: string[] = [];
/** A new empty folder outside the repository (removed at the end of the run). */
export function freshFolder(label: string): string {
  const d = mkdtempSync(join(tmpdir(), `baton-consumer-${label}-`));
  folders.push(d);
  return d;
}
export function removeFolders(): void {
  for (const d of folders.splice(0)) rmSync(d, { recursive: true, force: true });
}

export function copyFixture(name: string, to: string): void {
  cpSync(join(ROOT, 'test/packages/fixtures', name), to, { recursive: true });
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** process.env with `extra` on top; an `undefined` in `extra` removes the variable. */
export function envWith(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...extra })) if (v !== undefined) out[k] = v;
  return out;
}

export function run(cmd: string, args: readonly string[], o: { cwd: string; env?: Record<string, string | undefined>; input?: string; timeout?: number }): Promise<Run> {
  return new Promise((res) => {
    const child = execFile(cmd, [...args], { cwd: o.cwd, env: envWith(o.env), timeout: o.timeout ?? 300_000, maxBuffer: 64 * 1024 * 1024 }, (e, stdout, stderr) =>
      res({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : 1, stdout, stderr }),
    );
    if (o.input !== undefined) child.stdin!.end(o.input);
    else child.stdin!.end();
  });
}

/**
 * `npm install` in `dir` of the given packages: Baton's by name from their tarballs (and every Baton package that
 * those depend on, through `overrides`, as the registry would serve them), others at the given version.
 */
export async function install(dir: string, deps: Record<string, string | true>): Promise<void> {
  const file = (n: string) => `file:${tarball(n)}`;
  const dependencies = Object.fromEntries(Object.entries(deps).map(([n, v]) => [n, v === true ? (PACKAGES.includes(n) ? file(n) : pinned(n)) : v]));
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: `consumer-${Math.random().toString(36).slice(2, 8)}`, private: true, type: 'module', dependencies, overrides: Object.fromEntries(PACKAGES.map((n) => [n, file(n)])) }, null, 2),
  );
  const r = await run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], { cwd: dir });
  if (r.code !== 0) throw new Error(`npm install failed in ${dir}:\n${r.stdout}\n${r.stderr}`);
}

interface LsNode {
  version?: string;
  dependencies?: Record<string, LsNode>;
}

/** Every package installed in dir/node_modules (name → version), from `npm ls --all`. */
export async function installed(dir: string): Promise<Map<string, string>> {
  const r = await run('npm', ['ls', '--all', '--json'], { cwd: dir });
  const tree = JSON.parse(r.stdout) as LsNode;
  const out = new Map<string, string>();
  const walk = (deps: Record<string, LsNode> | undefined) => {
    for (const [n, d] of Object.entries(deps ?? {})) {
      if (d.version === undefined) continue; // an optional peer that is not installed
      out.set(n, d.version);
      walk(d.dependencies);
    }
  };
  walk(tree.dependencies);
  return out;
}

export function sizeOf(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((sum, n) => sum + sizeOf(join(path, n)), 0);
}

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a !== null ? res(a.port) : rej(new Error('no port'))));
    });
  });
}

export interface Started {
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

const started: Started[] = [];

/** Starts a long-running command in its own process group; resolves once its output matches `ready`. */
export function startUntil(cmd: string, args: readonly string[], o: { cwd: string; env?: Record<string, string | undefined>; ready: RegExp; timeout?: number }): Promise<Started> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, [...args], { cwd: o.cwd, env: envWith(o.env), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let done = false;
    const stop = async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        /* already gone */
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      }, 5000);
      await exited;
      clearTimeout(timer);
    };
    const s: Started = { child, output: () => out, stop };
    started.push(s);
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      void stop();
      rej(new Error(`${cmd} ${args.join(' ')}: not ready after ${o.timeout ?? 120_000} ms:\n${out}`));
    }, o.timeout ?? 120_000);
    const onData = (b: Buffer) => {
      out += b.toString('utf8');
      if (!done && o.ready.test(out)) {
        done = true;
        clearTimeout(timer);
        res(s);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      rej(new Error(`${cmd} ${args.join(' ')} exited (${code}) before it was ready:\n${out}`));
    });
  });
}

export async function stopAll(): Promise<void> {
  await Promise.all(started.splice(0).map((s) => s.stop()));
}

/** An RFC 8693 exchange at a TTS with a client secret: the Txn-Token, or the error body. */
export async function exchange(tokenEndpoint: string, clientId: string, secret: string, subjectToken: string, scope: string, audience: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(tokenEndpoint, {
    method: 'POST',
    headers: { authorization: `Basic ${btoa(`${clientId}:${secret}`)}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      requested_token_type: 'urn:ietf:params:oauth:token-type:txn_token',
      audience,
      scope,
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      subject_token: subjectToken,
    }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
