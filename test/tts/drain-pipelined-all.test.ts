// A drain (src/server/node-http.node.ts) must answer every request already read on a connection: with pipelined
// requests in flight, only the last response of the connection is told `Connection: close` (Node ends a connection
// after a response that carries it, so told to an earlier one, the later requests, already read, went unanswered).
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { drainServer, trackConnections } from '../../src/server/node-http.node.js';

let server: Server | undefined;
afterEach(async () => {
  if (server?.listening) await new Promise((r) => server!.close(r));
});

/** A server whose requests are answered only when the test releases them (by request number, 1-based). */
async function heldServer(): Promise<{ port: number; seen: (n: number) => Promise<void>; release: (n: number) => void }> {
  const held = new Map<number, () => void>();
  const waiters = new Map<number, () => void>();
  let count = 0;
  server = createServer((req, res) => {
    const n = ++count;
    held.set(n, () => res.end(`answer ${n} ${req.url}`));
    waiters.get(n)?.();
  });
  trackConnections(server);
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    seen: (n) => (held.has(n) ? Promise.resolve() : new Promise<void>((r) => waiters.set(n, r))),
    release: (n) => held.get(n)!(),
  };
}

function client(port: number): { socket: Socket; received: () => string; ended: Promise<void> } {
  const socket = connect({ host: '127.0.0.1', port });
  let text = '';
  socket.setEncoding('utf8').on('data', (d: string) => (text += d));
  const ended = new Promise<void>((r) => socket.once('end', r));
  return { socket, received: () => text, ended };
}

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;
const CLOSE = /\r\nConnection: close\r\n/i;

/** The answers on one connection, in order: each a 200 with its own body; only the last says Connection: close. */
function expectAnswers(text: string, paths: string[]): void {
  const answers = text.split(/(?=HTTP\/1\.1 )/);
  expect(answers).toHaveLength(paths.length);
  answers.forEach((a, i) => {
    expect(a).toMatch(/^HTTP\/1\.1 200 /);
    expect(a.endsWith(`answer ${i + 1} ${paths[i]}`)).toBe(true);
    if (i === paths.length - 1) expect(a).toMatch(CLOSE);
    else expect(a).not.toMatch(CLOSE);
  });
}

describe('drain: every pipelined request already read is answered', () => {
  for (const paths of [['/one', '/two'], ['/one', '/two', '/three']]) {
    it(`${paths.length} pipelined requests, none answered when the drain starts, answered in order`, async () => {
      const s = await heldServer();
      const c = client(s.port);
      c.socket.write(paths.map(get).join(''));
      await s.seen(paths.length);
      const drain = drainServer(server!, 5000, () => {});
      for (let n = 1; n <= paths.length; n++) s.release(n);
      await c.ended;
      expect((await drain.done).forced).toBe(0);
      expectAnswers(c.received(), paths);
      c.socket.destroy();
    });
  }

  it('3 pipelined requests released last first: answered in order, only the third closes', async () => {
    const s = await heldServer();
    const c = client(s.port);
    c.socket.write(['/a', '/b', '/c'].map(get).join(''));
    await s.seen(3);
    const drain = drainServer(server!, 5000, () => {});
    s.release(3);
    s.release(2);
    await new Promise((r) => setTimeout(r, 50));
    expect(c.received()).toBe(''); // in order: nothing before the first answer
    s.release(1);
    await c.ended;
    expect((await drain.done).forced).toBe(0);
    expectAnswers(c.received(), ['/a', '/b', '/c']);
    c.socket.destroy();
  });

  it('a request read after the drain started, behind one in flight: both answered, the later one closes', async () => {
    const s = await heldServer();
    const c = client(s.port);
    c.socket.write(get('/one'));
    await s.seen(1);
    const drain = drainServer(server!, 5000, () => {});
    c.socket.write(get('/two'));
    await s.seen(2);
    s.release(1);
    s.release(2);
    await c.ended;
    expect((await drain.done).forced).toBe(0);
    expectAnswers(c.received(), ['/one', '/two']);
    c.socket.destroy();
  });

  it('a response the application itself closes keeps its Connection: close (only the drain\'s own header moves)', async () => {
    server = createServer((req, res) => {
      res.setHeader('Connection', 'close');
      setTimeout(() => res.end(`bye ${req.url}`), 50);
    });
    trackConnections(server);
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const c = client((server.address() as { port: number }).port);
    c.socket.write(get('/one'));
    await new Promise((r) => setTimeout(r, 20));
    const drain = drainServer(server, 5000, () => {});
    await c.ended;
    expect((await drain.done).forced).toBe(0);
    expect(c.received()).toMatch(CLOSE);
    expect(c.received()).toMatch(/bye \/one$/);
    c.socket.destroy();
  });
});
