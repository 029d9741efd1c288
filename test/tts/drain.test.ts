/**
 * Issue 10 finding 6: SIGTERM completes while a slow client holds a request open. `baton serve` runs as a real child
 * process (node --import tsx src/cli/main.ts serve) on a loopback port; slow clients are raw TCP sockets that send a
 * request's headers and only part of its body. No timing assertions: what is checked is the order of events (the
 * request that finishes inside the drain is answered, the one that never finishes is cut, the process exits by
 * itself and logs the start and the end of the drain). HANG_MS only keeps a broken drain from hanging the suite.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const HANG_MS = 20_000;

interface Serving {
  child: ChildProcess;
  port: number;
  stderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  dir: string;
}

const running: Serving[] = [];
afterEach(() => {
  for (const s of running.splice(0)) {
    if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
    rmSync(s.dir, { recursive: true, force: true });
  }
});

async function serve(drainTimeoutSeconds: number): Promise<Serving> {
  const dir = mkdtempSync(join(tmpdir(), 'baton-drain-'));
  const config = join(dir, 'baton.config.yaml');
  writeFileSync(
    config,
    [
      'issuer: http://127.0.0.1:0',
      'trustDomain: support.example',
      'host: 127.0.0.1',
      'port: 0',
      `keys: ${join(dir, 'keys')}`,
      `drainTimeoutSeconds: ${drainTimeoutSeconds}`,
      'clients:',
      '  - { id: svc, auth: client_secret_basic, secret: drain-secret-0123456789, scopes: [tickets:read] }',
    ].join('\n'),
  );
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--config', config], {
    cwd: ROOT,
    env: { ...process.env, BATON_DECISION_LOG: 'off' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const stderr: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const port = await new Promise<number>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`baton serve did not start: ${stderr.join('')}`)), HANG_MS);
    let buf = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) {
        stderr.push(l);
        const m = /serving on http:\/\/127\.0\.0\.1:(\d+)/.exec(l);
        if (m !== null) {
          clearTimeout(t);
          res(Number(m[1]));
        }
      }
    });
    child.once('exit', () => rej(new Error(`baton serve exited: ${stderr.join('\n')}`)));
  });
  const s = { child, port, stderr, exited, dir };
  running.push(s);
  return s;
}

/** A client that sends a POST /token with `body.length + missing` bytes announced and only `body` sent. */
async function slowClient(port: number, body: string, missing: number): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
  const socket = connect({ host: '127.0.0.1', port });
  await new Promise<void>((r, j) => {
    socket.once('connect', () => r());
    socket.once('error', j);
  });
  let data = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (data += d));
  socket.on('error', () => {});
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  socket.write(
    `POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length + missing}\r\n\r\n${body}`,
  );
  return { socket, received: () => data, closed };
}

/**
 * Returns once the server has taken in what the slow clients sent: a complete request on a new connection is answered
 * after the connections accepted before it (the server accepts and reads in order), plus a short pause.
 */
async function reached(s: Serving): Promise<void> {
  expect((await fetch(`http://127.0.0.1:${s.port}/healthz`, { headers: { connection: 'close' } })).status).toBe(200);
  await new Promise((r) => setTimeout(r, 100));
}

function within<T>(p: Promise<T>, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, j) => setTimeout(() => j(new Error(`${what} did not happen within ${HANG_MS} ms`)), HANG_MS))]);
}

async function waitForLine(s: Serving, re: RegExp): Promise<string> {
  return within(
    (async () => {
      for (;;) {
        const l = s.stderr.find((x) => re.test(x));
        if (l !== undefined) return l;
        await new Promise((r) => setTimeout(r, 20));
      }
    })(),
    `a log line ${re}`,
  );
}

describe('issue 10 finding 6: graceful drain on SIGTERM', () => {
  it('issue 10 finding 6: SIGTERM completes while a slow client holds a request open: the drain is bounded, then the connection is closed and the process exits 0', async () => {
    const s = await serve(2);
    // a request that never finishes: 10 body bytes announced more than ever sent
    const stuck = await slowClient(s.port, 'grant_type=', 10);
    // a request still in flight when the drain starts, finished during it
    const rest = 'scope=x';
    const late = await slowClient(s.port, 'grant_type=x&', rest.length);
    await reached(s);
    s.child.kill('SIGTERM');
    await waitForLine(s, /drain started/);
    // new connections are refused once the drain has started
    const refused = await new Promise<string>((r) => {
      const c = connect({ host: '127.0.0.1', port: s.port });
      c.once('connect', () => {
        c.destroy();
        r('connected');
      });
      c.once('error', (e: NodeJS.ErrnoException) => r(e.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
    late.socket.write(rest);
    await within(late.closed, 'the late request being answered');
    // answered (the TTS's own refusal of this incomplete exchange), not cut
    expect(late.received(), late.received()).toMatch(/^HTTP\/1\.1 400 [\s\S]*"error":"unsupported_grant_type"/);
    expect(late.received()).toMatch(/\r\nConnection: close\r\n/i); // told not to reuse the connection
    // the stuck one is cut at the deadline, and the process exits by itself
    await within(stuck.closed, 'the stuck connection being closed');
    expect(stuck.received()).toBe('');
    const exit = await within(s.exited, 'the process exiting');
    expect(exit).toEqual({ code: 0, signal: null });
    const end = s.stderr.find((l) => /drain ended/.test(l));
    expect(end).toMatch(/drain ended after \d+ ms: 1 connection\(s\) closed with a request unfinished/);
    expect(s.stderr.findIndex((l) => /drain started/.test(l))).toBeLessThan(s.stderr.indexOf(end!));
    expect(s.stderr.some((l) => /drain started: .* up to 2000 ms/.test(l))).toBe(true);
  });

  it('issue 10 finding 6: with nothing in flight, SIGTERM drains at once and exits 0', async () => {
    const s = await serve(30);
    const r = await fetch(`http://127.0.0.1:${s.port}/healthz`);
    expect(r.status).toBe(200);
    s.child.kill('SIGTERM');
    const exit = await within(s.exited, 'the process exiting');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(s.stderr.some((l) => /drain ended after \d+ ms: every request finished/.test(l))).toBe(true);
  });

  it('issue 10 finding 6: a second SIGTERM ends the drain at once', async () => {
    const s = await serve(300);
    const stuck = await slowClient(s.port, 'grant_type=', 10);
    await reached(s);
    s.child.kill('SIGTERM');
    await waitForLine(s, /drain started/);
    s.child.kill('SIGTERM');
    await within(stuck.closed, 'the stuck connection being closed');
    expect(await within(s.exited, 'the process exiting')).toEqual({ code: 0, signal: null });
    expect(s.stderr.some((l) => /SIGTERM again: closing the remaining connections now/.test(l))).toBe(true);
  });
});
