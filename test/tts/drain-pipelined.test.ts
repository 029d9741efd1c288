// A drain (src/server/node-http.node.ts) with pipelined requests: a connection with two responses in flight is busy
// until both are sent (the tracker keeps the first response in a field and the others in a set made only then); the
// response whose headers are not out yet is told `Connection: close`, and the connection is ended after the last one.
// (Here the first response's headers are out when the drain starts: were it told `Connection: close`, Node would end
// the connection after it and the pipelined second request would go unanswered, with or without the tracker.)
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { drainServer, trackConnections } from '../../src/server/node-http.node.js';

let server: Server | undefined;
afterEach(async () => {
  if (server?.listening) await new Promise((r) => server!.close(r));
});

describe('drain with pipelined requests', () => {
  it('both in-flight responses of one connection are sent, the second with Connection: close, then the connection ends', async () => {
    let seen = 0;
    const release: (() => void)[] = [];
    let bothSeen!: () => void;
    const seenBoth = new Promise<void>((r) => (bothSeen = r));
    server = createServer((req, res) => {
      const n = ++seen;
      if (n === 1) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.flushHeaders(); // the first answer has begun when the drain starts
      }
      // finished only when the test says so (after the drain started)
      release.push(() => res.end(`answer ${n} ${req.url}`));
      if (n === 2) bothSeen();
    });
    trackConnections(server);
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;

    const socket = connect({ host: '127.0.0.1', port });
    let received = '';
    socket.setEncoding('utf8').on('data', (d: string) => (received += d));
    const ended = new Promise<void>((r) => socket.once('end', r));
    socket.write('GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\n');
    await seenBoth; // both requests are in flight on the one connection

    const lines: string[] = [];
    const drain = drainServer(server, 5000, (m) => lines.push(m));
    expect(lines[0]).toMatch(/1 open connection/);
    release[0]!();
    await new Promise((r) => setTimeout(r, 100));
    // the first answer alone does not end the connection: the second is still in flight
    expect(socket.readableEnded).toBe(false);
    expect(received).toMatch(/answer 1 \/one/);
    expect(received).not.toMatch(/answer 2/);
    release[1]!();
    await ended;
    const result = await drain.done;
    expect(result.forced).toBe(0);
    const answers = received.split(/(?=HTTP\/1\.1 )/);
    expect(answers).toHaveLength(2);
    for (const a of answers) expect(a).toMatch(/^HTTP\/1\.1 200 /);
    expect(answers[0]).not.toMatch(/\r\nConnection: close\r\n/i);
    expect(answers[0]).toMatch(/answer 1 \/one/);
    expect(answers[1]).toMatch(/\r\nConnection: close\r\n/i);
    expect(answers[1]).toMatch(/answer 2 \/two$/);
    socket.destroy();
  });
});
