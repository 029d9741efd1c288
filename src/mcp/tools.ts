import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { TokenExchangeError, type TokenExchangeClient, type TxnTokenResult } from '../client/index.js';
import { decisionLog, type DecisionRecord } from '../log/index.js';
import { scopeList, TXN_TOKEN_HEADER } from '../txn/index.js';

type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** What a Baton-wrapped tool declares. */
export interface BatonToolSpec<Args> {
  /** the Txn-Token scope this tool needs; every scope must be granted or the call is refused */
  scope: string | readonly string[];
  /**
   * `request_details` sent to the TTS besides `tool`: names of arguments to copy, or a function of the arguments.
   * The TTS keeps only the members it allow-lists (T-18).
   */
  details?: readonly (keyof Args & string)[] | ((args: Args) => Record<string, unknown>) | undefined;
}

/** What the wrapped handler receives besides the arguments. */
export interface BatonToolContext<Extra> {
  /** a fetch that sends this call's Txn-Token in `Txn-Token` (and refuses to carry the user's access token) */
  fetch: FetchLike;
  /** the Txn-Token result (token, granted scope, txn, chain); do not log `token` */
  txn: TxnTokenResult;
  /** the user (`sub` of the access token) */
  user: string;
  /** the SDK's request-handler extra (signal, authInfo, sessionId, ...) */
  extra: Extra;
}

/** One line per tool-call decision at the MCP server; never a token. A narrowing of the log's one record type. */
export interface McpDecisionEntry extends DecisionRecord {
  event: 'tool_call';
  effect: 'grant' | 'deny';
  tool: string;
  txn?: string | undefined;
  sub?: string | undefined;
  workload?: string | undefined;
  chain?: string[] | undefined;
  requested: string[];
  granted?: string[] | undefined;
  request_details?: Record<string, unknown> | undefined;
  error?: string | undefined;
  reason?: string | undefined;
  /** why a call was refused: `mcp.unauthenticated`, `mcp.exchange_refused` (the TTS's `error` says why), `mcp.scope_not_granted` */
  reason_code?: 'mcp.unauthenticated' | 'mcp.exchange_refused' | 'mcp.scope_not_granted' | undefined;
}

export interface BatonMcpOptions {
  /** the token-exchange client of this MCP server (its own workload identity at the TTS) */
  client: TokenExchangeClient;
  /** the fetch the tools' outbound calls go through (default: global fetch) */
  fetch?: FetchLike | undefined;
  onDecision?: ((entry: McpDecisionEntry) => void) | undefined;
  /** this hop's name in decision entries (default `mcp`) */
  hop?: string | undefined;
}

interface ExtraWithAuth {
  authInfo?: AuthInfo | undefined;
}

export interface BatonMcp {
  /**
   * Wraps an MCP tool handler: per call, exchanges the user's access token (from `extra.authInfo`, set by the
   * Streamable HTTP transport) for a Txn-Token with the tool's scope and `request_details = { tool, ...details }`,
   * then runs `handler` with a fetch that sends the Txn-Token. When the TTS refuses, the tool returns an MCP tool
   * error (`isError: true`) naming the scope and the OAuth error; the handler is not run.
   */
  tool<Args extends Record<string, unknown>, Extra extends ExtraWithAuth>(
    name: string,
    spec: BatonToolSpec<Args>,
    handler: (args: Args, ctx: BatonToolContext<Extra>) => CallToolResult | Promise<CallToolResult>,
  ): (args: Args, extra: Extra) => Promise<CallToolResult>;
}

export function toolError(text: string): CallToolResult {
  return { isError: true, content: [{ type: 'text', text }] };
}

/**
 * W-03 / MCP "no token passthrough": a fetch that puts the Txn-Token in `Txn-Token`, drops any `Authorization`
 * the handler set, and refuses outright to send the user's access token anywhere in its headers.
 */
export function txnTokenFetch(base: FetchLike, txnToken: string, userAccessToken: string | undefined): FetchLike {
  return (input, init) => {
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    if (userAccessToken !== undefined)
      for (const [, v] of headers)
        if (v.includes(userAccessToken))
          return Promise.reject(new TypeError("refused: the user's access token is never forwarded downstream (no token passthrough)"));
    headers.delete('authorization');
    headers.set(TXN_TOKEN_HEADER, txnToken);
    return base(input, { ...init, headers });
  };
}

export function createBatonMcp(o: BatonMcpOptions): BatonMcp {
  const hop = o.hop ?? 'mcp';
  const baseFetch: FetchLike = o.fetch ?? ((i, n) => fetch(i, n));
  // the arguments in request_details come from the agent (and so from whatever prompt it read): scrubbed and bounded
  // by the log like every hop's entries before any sink sees them
  const log = decisionLog<McpDecisionEntry>({ hop, sink: o.onDecision });
  const emit = (e: Omit<McpDecisionEntry, 'time' | 'hop' | 'event'>) => log.emit({ event: 'tool_call', ...e });
  return {
    tool(name, spec, handler) {
      const requested = scopeList(spec.scope);
      if (requested.length === 0) throw new TypeError(`tool ${name}: scope is required`);
      return async (argsIn, extraIn) => {
        // the SDK calls a tool registered without inputSchema with the extra only
        const [args, extra] = extraIn === undefined ? ([{}, argsIn] as unknown as [typeof argsIn, typeof extraIn]) : [argsIn, extraIn];
        const auth = extra.authInfo;
        const sub = typeof auth?.extra?.sub === 'string' ? auth.extra.sub : undefined;
        if (auth === undefined || typeof auth.token !== 'string' || auth.token.length === 0) {
          emit({ effect: 'deny', tool: name, requested, error: 'unauthenticated', reason: 'no user access token on the request', reason_code: 'mcp.unauthenticated' });
          return toolError(`${name}: no authenticated user on this request`);
        }
        const picked =
          typeof spec.details === 'function'
            ? spec.details(args)
            : Object.fromEntries((spec.details ?? []).filter((k) => args[k] !== undefined).map((k) => [k, args[k]]));
        // `__proto__` first: V8's slow path for a spread followed by new members (same object, same prototype)
        const requestDetails = { __proto__: Object.prototype, ...picked, tool: name };
        let txn: TxnTokenResult;
        try {
          txn = await o.client.exchange({ subjectToken: auth.token, scope: requested, requestDetails });
        } catch (e) {
          const code = e instanceof TokenExchangeError ? e.error : 'exchange_failed';
          const desc = e instanceof TokenExchangeError ? e.description : undefined;
          emit({ effect: 'deny', tool: name, sub, workload: o.client.clientId, requested, request_details: requestDetails, error: code, reason: desc ?? 'the token exchange failed', reason_code: 'mcp.exchange_refused' });
          return toolError(`${name}: Baton did not grant scope ${requested.join(' ')} for this call (${code}${desc !== undefined ? `: ${desc}` : ''})`);
        }
        const missing = requested.filter((s) => !txn.scope.includes(s));
        if (missing.length > 0) {
          emit({ effect: 'deny', tool: name, txn: txn.txn, sub: txn.sub, workload: o.client.clientId, chain: [...txn.chain], requested, granted: [...txn.scope], request_details: requestDetails, error: 'invalid_scope', reason: `not granted: ${missing.join(' ')}`, reason_code: 'mcp.scope_not_granted' });
          return toolError(`${name}: Baton did not grant scope ${missing.join(' ')} for this call (invalid_scope)`);
        }
        emit({ effect: 'grant', tool: name, txn: txn.txn, sub: txn.sub, workload: o.client.clientId, chain: [...txn.chain], requested, granted: [...txn.scope], request_details: requestDetails, ...(txn.cached ? { reason: 'cached Txn-Token' } : {}) });
        return handler(args, { fetch: txnTokenFetch(baseFetch, txn.token, auth.token), txn, user: txn.sub ?? sub ?? '', extra });
      };
    },
  };
}
