import { Hono } from 'hono';
import type { McpAuthEnv, McpResourceServer } from './resource-server.js';

type TransportModule = typeof import('@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js');
let transportModule: Promise<TransportModule> | undefined;

/**
 * The MCP SDK is an optional peer of this package: only `mcpHttpApp` needs it at run time (whoever calls it built
 * their server with the SDK), so it is loaded on the first MCP request instead of when this module is imported.
 */
function loadTransport(): Promise<TransportModule> {
  transportModule ??= import('@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js').catch((e: unknown) => {
    transportModule = undefined;
    throw new Error('mcpHttpApp needs the MCP SDK: npm install @modelcontextprotocol/sdk', { cause: e });
  });
  return transportModule;
}

/**
 * What mcpHttpApp needs of the SDK's `McpServer` (declared here so that these types need neither the SDK's transport
 * types, which use DOM-only names, nor the DOM lib; an `McpServer` is one).
 */
export interface McpServerLike {
  connect(transport: unknown): Promise<void>;
  close(): Promise<void>;
}

export interface McpHttpAppOptions {
  resourceServer: McpResourceServer;
  /** builds the MCP server (an SDK `McpServer` with its tools registered); called once per HTTP request (stateless Streamable HTTP) */
  createServer: () => McpServerLike;
  /** the MCP endpoint path (default: the path of the resource URI, or `/mcp`) */
  path?: string | undefined;
}

/**
 * An MCP server over Streamable HTTP (stateless: one server and transport per request, JSON responses), behind the
 * resource-server checks: Protected Resource Metadata on the well-known paths, 401 with `resource_metadata` for a
 * missing or invalid access token, and the validated `AuthInfo` handed to the SDK so tool handlers see
 * `extra.authInfo`. Runs wherever hono does (Node via @hono/node-server, Workers).
 */
export function mcpHttpApp(o: McpHttpAppOptions): Hono<McpAuthEnv> {
  const rs = o.resourceServer;
  const resourcePath = new URL(rs.resource).pathname;
  const path = o.path ?? (resourcePath === '/' ? '/mcp' : resourcePath);
  const app = new Hono<McpAuthEnv>();
  for (const p of rs.metadataPaths) app.get(p, () => rs.metadataResponse());
  app.all(path, rs.middleware, async (c) => {
    const { WebStandardStreamableHTTPServerTransport } = await loadTransport();
    const server = o.createServer();
    // no sessionIdGenerator: stateless
    const transport = new WebStandardStreamableHTTPServerTransport({ enableJsonResponse: true });
    await server.connect(transport);
    try {
      return await transport.handleRequest(c.req.raw, { authInfo: c.var.auth });
    } finally {
      void server.close().catch(() => undefined);
    }
  });
  return app;
}
