// The support-desk MCP server (official SDK). Each tool declares the Txn-Token scope it needs; Baton exchanges the
// user's access token for a Txn-Token per call and hands the tool a fetch that sends it. The user's access token
// stops here (no passthrough).
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod';
import { toolError, type BatonMcp } from '../../src/mcp/index.js';

export interface Downstream {
  tickets: string;
  orders: string;
}

async function call(res: Response, what: string): Promise<{ ok: true; body: Record<string, unknown> } | { ok: false; result: CallToolResult }> {
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (res.ok) return { ok: true, body };
  const why = typeof body.error_description === 'string' ? body.error_description : `HTTP ${res.status}`;
  const rule = typeof body.rule === 'string' ? ` [rule ${body.rule}]` : '';
  const who = what.split(' ')[0];
  return { ok: false, result: toolError(`DENIED by the ${who} service: ${what} refused (${res.status} ${String(body.error ?? '')}): ${why}${rule}`) };
}

const text = (v: unknown): CallToolResult => ({ content: [{ type: 'text', text: JSON.stringify(v, null, 2) }] });

export function createSupportDeskServer(baton: BatonMcp, ds: Downstream): McpServer {
  const server = new McpServer({ name: 'support-desk', version: '1.0.0' });

  server.registerTool(
    'list_my_tickets',
    { description: "List the signed-in user's support tickets", inputSchema: {} },
    baton.tool('list_my_tickets', { scope: 'tickets:read' }, async (_args: Record<string, never>, { fetch }) => {
      const r = await call(await fetch(`${ds.tickets}/tickets`), 'tickets list');
      return r.ok ? text(r.body.tickets) : r.result;
    }),
  );

  server.registerTool(
    'get_ticket',
    { description: 'Read one support ticket', inputSchema: { ticket_id: z.string().regex(/^T-\d+$/) } },
    baton.tool('get_ticket', { scope: 'tickets:read', details: ['ticket_id'] }, async ({ ticket_id }: { ticket_id: string }, { fetch }) => {
      const r = await call(await fetch(`${ds.tickets}/tickets/${encodeURIComponent(ticket_id)}`), `tickets read of ${ticket_id}`);
      return r.ok ? text(r.body.ticket) : r.result;
    }),
  );

  server.registerTool(
    'order_status',
    { description: "Status of one of the user's orders (default: the latest)", inputSchema: { order_id: z.string().regex(/^O-\d+$/).optional() } },
    baton.tool('order_status', { scope: 'orders:read', details: ['order_id'] }, async ({ order_id }: { order_id?: string | undefined }, { fetch }) => {
      const path = order_id === undefined ? '/orders/latest' : `/orders/${encodeURIComponent(order_id)}`;
      const r = await call(await fetch(`${ds.orders}${path}`), `orders read of ${order_id ?? 'the latest order'}`);
      return r.ok ? text(r.body.order) : r.result;
    }),
  );

  server.registerTool(
    'refund_order',
    { description: 'Refund an order', inputSchema: { order_id: z.string().regex(/^O-\d+$/) } },
    baton.tool('refund_order', { scope: 'orders:refund', details: ['order_id'] }, async ({ order_id }: { order_id: string }, { fetch }) => {
      const r = await call(await fetch(`${ds.orders}/orders/${encodeURIComponent(order_id)}/refund`, { method: 'POST' }), `orders refund of ${order_id}`);
      return r.ok ? text(r.body.order) : r.result;
    }),
  );

  return server;
}
