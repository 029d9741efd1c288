// Node-only: starts the whole support desk on loopback (IdP, Baton TTS, tickets, orders, MCP server), runs the agent
// for alice through four steps, and tears everything down. Used by `npm run demo` and by test/mcp.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTokenExchangeClient, privateKeyJwt } from '../../src/client/index.js';
import { parseConfig } from '../../src/config/schema.js';
import { generateSigningJwk, toPublicJwk } from '../../src/jose/keys.js';
import { createDecisionLogger, memorySink, teeSink, type DecisionLogSink, type DecisionRecord } from '../../src/log/index.js';
import { createBatonMcp, createMcpResourceServer, mcpHttpApp } from '../../src/mcp/index.js';
import { buildNode } from '../../src/node.js';
import { createEngine } from '../../src/policy/index.js';
import { readPolicies } from '../../src/policy/fs.node.js';
import { createVerifier, type Verifier } from '../../src/verify/index.js';
import { connectAgent, injectedTicketIds, type ToolCall } from './agent.js';
import { seedOrders, seedTickets } from './data.js';
import { createIdp, DEMO_LOGIN_GRANT, type DemoUser } from './idp.js';
import { listen, type Listener } from './listen.node.js';
import { createSupportDeskServer } from './mcp-server.js';
import { explainedScopePolicy } from './scope-policy.js';
import { ordersService, ticketsService, type ReceivedRequest } from './services.js';

export const TRUST_DOMAIN = 'support.example';
export const AGENT_CLIENT_ID = 'mcp-support-agent';
const POLICIES = fileURLToPath(new URL('../../policies', import.meta.url));
const IMPLICATIONS = { tickets: ['tickets:read', 'tickets:write'], orders: ['orders:read', 'orders:refund'] };

export const USERS: DemoUser[] = [
  { sub: 'alice', scope: 'tickets orders', roles: ['user'], email: 'alice@example.com' },
  { sub: 'bob', scope: 'tickets orders', roles: ['user'], email: 'bob@example.com' },
];

export interface ScenarioStep {
  key: 'login' | 'a' | 'b' | 'c' | 'd';
  title: string;
  calls: ToolCall[];
  /** what the agent concluded (from tool output; the test does not rely on it) */
  summary: string;
  /** decision-log records written while this step ran */
  records: DecisionRecord[];
}

export interface ScenarioResult {
  steps: ScenarioStep[];
  /** every decision-log record, in order */
  records: DecisionRecord[];
  /** every request the tickets and orders services received, headers as received */
  received: ReceivedRequest[];
  /** alice's access token (for the no-passthrough check; never printed) */
  userAccessToken: string;
  urls: { idp: string; tts: string; tickets: string; orders: string; mcp: string };
  /** what the unauthenticated MCP request got: status and WWW-Authenticate */
  unauthenticated: { status: number; wwwAuthenticate: string | null };
}

export interface ScenarioOptions {
  /** the decision-log sink (default: JSON lines on stdout) */
  log?: DecisionLogSink;
  /** called as each step finishes (the demo prints its trace here) */
  onStep?: (step: ScenarioStep) => void;
  /**
   * the identity provider: `dev` (default), the small bundled one (idp.ts), or `oidc-provider`, a certified OpenID
   * provider (examples/oidc-provider) with a real authorization code flow; Baton then knows only its issuer
   */
  idp?: 'dev' | 'oidc-provider';
}

/** What the scenario needs of an identity provider: where it is, how Baton and the MCP server trust it, a sign-in. */
interface ScenarioIdp {
  issuer: string;
  jwksUri: string;
  /** the subject issuer entry of Baton's configuration */
  subjectIssuer: Record<string, unknown>;
  algorithms: string[];
  /** alice signs in for `resource`; how it went, for the trace */
  signIn(user: string, resource: string): Promise<{ accessToken: string; scope: string; how: string }>;
  close(): Promise<void>;
}

async function devIdp(listener: Listener, mcpResource: string): Promise<ScenarioIdp> {
  const idp = await createIdp(listener.url, USERS);
  listener.setHandler(idp.app.fetch);
  return {
    issuer: idp.issuer,
    jwksUri: idp.jwksUri,
    algorithms: ['ES256'],
    subjectIssuer: { issuer: idp.issuer, jwksUri: idp.jwksUri, audiences: [mcpResource], algorithms: ['ES256'], rolesClaim: 'roles', principalAttributes: ['email'] },
    async signIn(user, resource) {
      const asMeta = (await (await fetch(`${idp.issuer}/.well-known/oauth-authorization-server`)).json()) as { token_endpoint: string };
      const login = (await (
        await fetch(asMeta.token_endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: DEMO_LOGIN_GRANT, username: user, client_id: 'support-chat-app', resource }),
        })
      ).json()) as { access_token: string; scope: string };
      return { accessToken: login.access_token, scope: login.scope, how: 'the demo IdP\'s login shortcut' };
    },
    close: async () => {},
  };
}

/** oidc-provider (devDependency), loaded only when asked for: the default demo stays fast. */
async function certifiedIdp(mcpResource: string): Promise<ScenarioIdp> {
  const { authorizationCodeLogin, startOidcProvider } = await import('../oidc-provider/provider.node.js');
  const chat = { client_id: 'support-chat-app', client_secret: `chat-${crypto.randomUUID()}`, redirect_uri: 'http://127.0.0.1/callback' };
  const op = await startOidcProvider({
    resources: { [mcpResource]: { scope: 'tickets orders', format: 'jwt' } },
    clients: [{ ...chat, redirect_uris: [chat.redirect_uri], grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic' }],
    accounts: Object.fromEntries(USERS.map((u) => [u.sub, { claims: { email: u.email, email_verified: true }, tokenClaims: { roles: u.roles, email: u.email } }])),
  });
  const meta = (await (await fetch(`${op.issuer}/.well-known/openid-configuration`)).json()) as { jwks_uri: string };
  return {
    issuer: op.issuer,
    jwksUri: meta.jwks_uri,
    algorithms: ['RS256'],
    // the issuer alone: Baton discovers its JWKS from the provider's metadata
    subjectIssuer: { issuer: op.issuer, audiences: [mcpResource], algorithms: ['RS256'], rolesClaim: 'roles', principalAttributes: ['email'] },
    async signIn(user, resource) {
      const t = await authorizationCodeLogin({ issuer: op.issuer, client: chat, login: user, scope: 'openid email tickets orders', resource });
      const pages = t.visited.filter((v) => v.startsWith('POST /interaction/')).length;
      return { accessToken: t.access_token, scope: t.scope ?? '', how: `oidc-provider's authorization code flow with PKCE (${pages} forms: login, consent)` };
    },
    close: () => op.close(),
  };
}

export async function runScenario(o: ScenarioOptions = {}): Promise<ScenarioResult> {
  const memory = memorySink();
  const logger = createDecisionLogger({ sink: teeSink(memory, o.log ?? ((line) => console.log(line))) });
  const cleanups: Array<() => Promise<unknown>> = [];
  const listeners: Listener[] = [];
  const received: ReceivedRequest[] = [];
  const keysDir = await mkdtemp(join(tmpdir(), 'baton-support-desk-'));
  cleanups.push(() => rm(keysDir, { recursive: true, force: true }));
  try {
    const open = async () => {
      const l = await listen();
      listeners.push(l);
      return l;
    };
    const [ttsL, ticketsL, ordersL, mcpL] = [await open(), await open(), await open(), await open()];
    const mcpResource = `${mcpL.url}/mcp`;

    // 1. the identity provider
    const idp = o.idp === 'oidc-provider' ? await certifiedIdp(mcpResource) : await devIdp(await open(), mcpResource);
    cleanups.push(() => idp.close());

    // 2. the Baton TTS: the MCP server is client mcp-support-agent (private_key_jwt), the IdP is trusted for tokens
    //    issued to the MCP server, scopes are decided by policies/ (txn_token.yaml never grants orders:refund to it)
    const agentKey = await generateSigningJwk('ES256');
    const config = parseConfig(
      {
        issuer: ttsL.url,
        trustDomain: TRUST_DOMAIN,
        keys: keysDir,
        policies: POLICIES,
        subjectIssuers: [idp.subjectIssuer],
        clients: [
          {
            id: AGENT_CLIENT_ID,
            auth: 'private_key_jwt',
            jwks: { keys: [toPublicJwk(agentKey)] },
            scopes: ['tickets:read', 'tickets:write', 'orders:read', 'orders:refund'],
            subjectAudiences: [mcpResource],
          },
        ],
        scopeImplications: IMPLICATIONS,
        allowedRequestDetails: ['tool', 'ticket_id', 'order_id'],
      },
      'support-desk',
    );
    const engine = createEngine({ policies: readPolicies(POLICIES) });
    const tts = await buildNode({
      loaded: { config, file: 'support-desk', resolvePath: (p) => p },
      policy: explainedScopePolicy(engine, logger.sink),
      onDecision: logger.sink,
      say: () => {},
    });
    cleanups.push(() => tts.store.close());
    ttsL.setHandler(tts.app.fetch);

    // 3. the tickets and orders services: verify the Txn-Token, authorize with the same policies
    const verifiers: Verifier[] = [];
    const verifierFor = (service: string) => {
      const v = createVerifier({ trustDomain: TRUST_DOMAIN, issuer: ttsL.url, jwksUri: `${ttsL.url}/.well-known/jwks.json`, service, onDecision: logger.sink });
      verifiers.push(v);
      return v;
    };
    cleanups.push(() => Promise.all(verifiers.map((v) => v.close())));
    const svc = (service: string) => ({ verifier: verifierFor(service), engine, log: logger.sink, received, implications: IMPLICATIONS });
    ticketsL.setHandler(ticketsService(svc('tickets'), seedTickets()).fetch);
    ordersL.setHandler(ordersService(svc('orders'), seedOrders()).fetch);

    // 4. the MCP server: resource server for the user's token, Baton per tool call
    const client = createTokenExchangeClient({ issuer: ttsL.url, clientId: AGENT_CLIENT_ID, auth: privateKeyJwt(agentKey), trustDomain: TRUST_DOMAIN, allowInsecureHttp: true });
    const baton = createBatonMcp({ client, onDecision: logger.sink });
    const resourceServer = createMcpResourceServer({
      resource: mcpResource,
      authorizationServers: [{ issuer: idp.issuer, jwksUri: idp.jwksUri, algorithms: idp.algorithms }],
      scopesSupported: ['tickets', 'orders'],
      resourceName: 'Support desk MCP server',
    });
    mcpL.setHandler(mcpHttpApp({ resourceServer, createServer: () => createSupportDeskServer(baton, { tickets: ticketsL.url, orders: ordersL.url }) }).fetch);

    // 5. the agent, for alice
    const steps: ScenarioStep[] = [];
    let mark = memory.records.length;
    const finish = (key: ScenarioStep['key'], title: string, calls: ToolCall[], summary: string) => {
      const step: ScenarioStep = { key, title, calls, summary, records: memory.records.slice(mark) };
      mark = memory.records.length;
      steps.push(step);
      o.onStep?.(step);
    };

    // login: the MCP server answers 401 and points at its metadata; the metadata names the IdP; alice signs in there
    const anon = await fetch(mcpResource, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
    await anon.body?.cancel();
    const wwwAuthenticate = anon.headers.get('www-authenticate');
    const metaUrl = /resource_metadata="([^"]+)"/.exec(wwwAuthenticate ?? '')?.[1];
    if (metaUrl === undefined) throw new Error('the MCP server did not point at its protected resource metadata');
    const prm = (await (await fetch(metaUrl)).json()) as { resource: string; authorization_servers: string[] };
    const as = prm.authorization_servers[0]!;
    if (as !== idp.issuer) throw new Error('the MCP server names another authorization server');
    const login = await idp.signIn('alice', prm.resource);
    const userAccessToken = login.accessToken;
    finish('login', 'alice signs in (RFC 9728 metadata → IdP → RFC 9068 access token for the MCP server)', [],
      `401 from the MCP server (${wwwAuthenticate ?? ''}); metadata names ${as}; ${login.how}; access token for ${prm.resource}, scope "${login.scope}"`);

    const agent = await connectAgent(mcpResource, userAccessToken);
    cleanups.push(() => agent.close());

    // (a) summarize her tickets
    const list = await agent.call('list_my_tickets');
    const listed = list.isError ? [] : (JSON.parse(list.text) as Array<{ id: string; subject: string; status: string }>);
    const reads: ToolCall[] = [];
    for (const t of listed) reads.push(await agent.call('get_ticket', { ticket_id: t.id }));
    finish('a', "summarize alice's tickets", [list, ...reads],
      listed.length === 0 ? `no tickets (${list.text})` : listed.map((t) => `${t.id} "${t.subject}" (${t.status})`).join('; '));

    // (b) her latest order
    const order = await agent.call('order_status');
    const o1 = order.isError ? undefined : (JSON.parse(order.text) as { id: string; item: string; status: string });
    finish('b', "check alice's latest order", [order], o1 === undefined ? order.text : `${o1.id} ${o1.item}: ${o1.status}`);

    // (c) a ticket body told the model to fetch another ticket; it obeys
    const injected = [...new Set(reads.filter((r) => !r.isError).flatMap((r) => injectedTicketIds(r.text)))];
    const followed: ToolCall[] = [];
    for (const id of injected) followed.push(await agent.call('get_ticket', { ticket_id: id }));
    finish('c', `follow a prompt injection found in a ticket: get_ticket ${injected.join(', ') || '(none found)'}`, followed,
      followed.map((f) => (f.isError ? f.text : `LEAKED: ${f.text}`)).join('\n') || 'no injection found');

    // (d) the model decides to refund the cracked blender
    const refund = await agent.call('refund_order', { order_id: 'O-5001' });
    finish('d', 'try refund_order O-5001', [refund], refund.text);

    return {
      steps,
      records: memory.records,
      received,
      userAccessToken,
      urls: { idp: idp.issuer, tts: ttsL.url, tickets: ticketsL.url, orders: ordersL.url, mcp: mcpResource },
      unauthenticated: { status: anon.status, wwwAuthenticate },
    };
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await Promise.all(listeners.map((l) => l.close()));
  }
}
