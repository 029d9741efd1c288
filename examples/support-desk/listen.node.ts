// Node-only: a loopback HTTP listener on a free port whose handler is set after the URL is known
// (the TTS issuer and the MCP server's canonical URI must name the real port).
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';

export interface Listener {
  url: string;
  setHandler(fetch: (req: Request, env?: unknown) => Response | Promise<Response>): void;
  close(): Promise<void>;
}

export async function listen(): Promise<Listener> {
  let handler: ((req: Request, env?: unknown) => Response | Promise<Response>) | undefined;
  const server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve(
      { fetch: (req, env) => (handler === undefined ? new Response('starting', { status: 503 }) : handler(req, env)), port: 0, hostname: '127.0.0.1' },
      () => resolve(s),
    );
    s.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    setHandler: (f) => (handler = f),
    close: () =>
      new Promise<void>((r) => {
        const s = server as ServerType & { closeAllConnections?: () => void };
        server.close(() => r());
        s.closeAllConnections?.();
      }),
  };
}
