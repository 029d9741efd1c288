// The MCP server side of Baton: a resource server for the user's access token (MCP authorization spec, RFC 9728,
// RFC 9068) and a per-tool-call Txn-Token helper. Web-standard only (Node and Workers).
export {
  createMcpResourceServer,
  McpAuthError,
  type AuthorizationServerTrust,
  type McpAuthEnv,
  type McpResourceServer,
  type McpResourceServerOptions,
} from './resource-server.js';
export {
  createBatonMcp,
  toolError,
  txnTokenFetch,
  type BatonMcp,
  type BatonMcpOptions,
  type BatonToolContext,
  type BatonToolSpec,
  type McpDecisionEntry,
} from './tools.js';
export { mcpHttpApp, type McpHttpAppOptions, type McpServerLike } from './http.js';
