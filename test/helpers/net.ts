/** Loopback servers for tests (Node): free ports, a hono app served on one, and closing what was opened. */
import { serve, type ServerType } from '@hono/node-server';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Listens on a free port of 127.0.0.1; resolves with the port. */
export async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

/** Closes a server and every connection it has open. */
export async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}

/** A TCP port that was free a moment ago on 127.0.0.1 (so that a server's URL can be known before it starts). */
export async function freePort(): Promise<number> {
  const s = createServer();
  s.unref();
  const port = await listen(s);
  await closeServer(s);
  return port;
}

export interface RunningService {
  url: string;
  close(): Promise<void>;
}

/** Serves a hono app on a free loopback port. */
export async function serveApp(app: { fetch: (req: Request) => Response | Promise<Response> }): Promise<RunningService> {
  const server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: (req) => app.fetch(req), port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    s.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => r());
      }),
  };
}
