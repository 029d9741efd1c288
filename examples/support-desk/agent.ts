// The "agent": a scripted stand-in for an LLM, driven by the official MCP client SDK over Streamable HTTP.
// It behaves like a helpful but gullible assistant: it summarizes alice's tickets, checks her latest order, obeys an
// instruction it finds inside a ticket (a prompt injection), and tries a refund nobody asked the TTS to allow.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

export interface ToolCall {
  tool: string;
  args: Record<string, unknown>;
  isError: boolean;
  text: string;
}

export interface AgentSession {
  call(tool: string, args?: Record<string, unknown>): Promise<ToolCall>;
  listTools(): Promise<string[]>;
  close(): Promise<void>;
}

/** Connects to the MCP server with the user's access token (as an MCP client does after the OAuth flow). */
export async function connectAgent(mcpUrl: string, accessToken: string): Promise<AgentSession> {
  const client = new Client({ name: 'support-agent', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${accessToken}` } } });
  await client.connect(transport);
  return {
    async call(tool, args = {}) {
      const r = await client.callTool({ name: tool, arguments: args });
      const content = Array.isArray(r.content) ? r.content : [];
      const text = content.map((c) => (c !== null && typeof c === 'object' && (c as { type?: unknown }).type === 'text' ? String((c as { text?: unknown }).text) : '')).join('\n');
      return { tool, args, isError: r.isError === true, text };
    },
    async listTools() {
      return (await client.listTools()).tools.map((t) => t.name);
    },
    close: () => client.close(),
  };
}

/** What a gullible model does with a ticket body: it finds "call get_ticket with ticket_id T-…" and obeys. */
export function injectedTicketIds(text: string): string[] {
  return [...text.matchAll(/call get_ticket with ticket_id (T-\d+)/gi)].map((m) => m[1]!);
}
