// Tests that run INSIDE workerd (the Workers runtime) with @cloudflare/vitest-pool-workers 0.15 (`cloudflareTest`
// Vite plugin). `npm run test:workers`. The Worker is src/worker.ts as configured by wrangler.toml (Durable Object
// binding and migration included); the bindings below replace its [vars] with a test configuration.
//
// Everything secret is generated here, per run, with Web Crypto (jose) and handed to the Worker as bindings: the TTS
// signing key, a test IdP's key (its PUBLIC JWKS is inline in BATON_CONFIG) and the private_key_jwt client's key.
// Nothing private is committed. This file also runs the Node engine over the example policies, so the workerd tests
// can compare the bundled engine's decisions with Node's.
import { cloudflareTest } from '@cloudflare/vitest-pool-workers';
import { exportJWK, generateKeyPair } from 'jose';
import { defineConfig } from 'vitest/config';
import { parse as parseYaml } from 'yaml';
import { generateSigningJwk, toPublicJwk } from './src/jose/keys.js';
import { buildPolicyBundle } from './src/policy-bundle/index.js';
import { readPolicyDir } from './src/policy/fs.node.js';
import { createEngine, type CheckInput, type CheckResult, type PlanInput, type PlanResult } from './src/policy/index.js';
import { runTestSuites } from './src/policy/testrunner.js';
import { authorizationCodeLogin, revokeAtProvider } from './examples/oidc-provider/provider.node.js';
import { CHAT, MCP_JWT, MCP_OPAQUE, startOidcWorld } from './test/helpers/world-oidc.js';

const ISSUER = 'https://tts.test';
const IDP = 'https://idp.test';
const MCP_AUDIENCE = 'https://mcp.support.example';
/** a fixed clock for the cross-product decisions (both sides use it) */
const DECISION_NOW = '2026-04-01T12:00:00.000Z';

async function keyPair(kid: string) {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const priv = { ...(await exportJWK(privateKey)), kid, alg: 'EdDSA', use: 'sig' };
  return { priv, pub: toPublicJwk(priv) };
}

/** Every principal × resource of the example testdata, with every action the suites ask about for that kind. */
function crossProduct(dir: ReturnType<typeof readPolicyDir>): CheckInput[] {
  const td = (n: string) => {
    const text = [...dir.testdata].find(([k]) => k.endsWith(n))?.[1];
    if (text === undefined) throw new Error(`policies: testdata ${n} not found`);
    return parseYaml(text) as Record<string, Record<string, unknown>>;
  };
  const principals = Object.values(td('principals.yaml').principals ?? {}) as CheckInput['principal'][];
  const resources = Object.values(td('resources.yaml').resources ?? {}) as CheckInput['resource'][];
  const actionsByKind = new Map<string, Set<string>>();
  for (const s of dir.suites) {
    const suite = parseYaml(s.content) as { tests?: { input: { resources?: string[]; actions: string[] } }[] };
    const resourceFx = td('resources.yaml').resources as Record<string, { kind: string }>;
    for (const t of suite.tests ?? [])
      for (const r of t.input.resources ?? []) {
        const kind = resourceFx[r]?.kind;
        if (kind === undefined) continue;
        const set = actionsByKind.get(kind) ?? new Set<string>();
        t.input.actions.forEach((a) => set.add(a));
        actionsByKind.set(kind, set);
      }
  }
  const out: CheckInput[] = [];
  for (const principal of principals)
    for (const resource of resources) {
      const actions = [...(actionsByKind.get(resource.kind) ?? [])].sort();
      if (actions.length > 0) out.push({ principal, resource, actions });
    }
  return out;
}

export default defineConfig(async () => {
  const signing = await generateSigningJwk('EdDSA');
  const oldSigning = await generateSigningJwk('EdDSA', new Date(Date.now() - 86_400_000)); // rotation: published, not signing
  const idp = await keyPair('test-idp-1');
  const client = await keyPair('mcp-support-agent-1');
  const ordersSecret = `orders-${crypto.randomUUID()}`;

  const config = {
    issuer: ISSUER,
    trustDomain: 'support.example',
    tokenTtl: 120,
    maxTokenTtl: 300,
    policies: 'policies',
    subjectIssuers: [{ issuer: IDP, jwks: { keys: [idp.pub] }, audiences: [MCP_AUDIENCE], rolesClaim: 'roles', principalAttributes: ['email'] }],
    clients: [
      {
        id: 'mcp-support-agent',
        auth: 'private_key_jwt',
        jwks: { keys: [client.pub] },
        scopes: ['tickets:read', 'tickets:write', 'orders:read', 'orders:refund'],
        subjectAudiences: [MCP_AUDIENCE],
      },
      { id: 'orders-service', auth: 'client_secret_basic', secret: '${TEST_ORDERS_SECRET}', scopes: ['orders:read'], revokeById: true },
    ],
    scopeImplications: { tickets: ['tickets:read', 'tickets:write'] },
    allowedRequestDetails: ['tool', 'ticket_id', 'order_id'],
    defaultRateLimit: { perClient: 1000, perSubject: 1000, windowSeconds: 60 },
    // the decision point beside the TTS (issue 14): Txn-Tokens checked with the TTS's own keys
    pdp: {
      mount: true,
      scopes: { ticket: { read: 'tickets:read', comment: 'tickets:write' }, order: { read: 'orders:read', refund: 'orders:refund' } },
      routes: [{ method: 'GET', path: '/users/:owner/tickets/:id', kind: 'ticket', action: 'read', scope: 'tickets:read' }],
    },
  };

  // Issue 17: a certified OpenID provider (oidc-provider) on loopback, reached by the Worker over real HTTP
  // (discovery, JWKS, introspection with private_key_jwt and RFC 9701 answers). The user's tokens come from its
  // authorization code flow here, on the Node side; the provider stops with this process (unref).
  const op = await startOidcWorld({ unref: true });
  const signIn = (resource: string) => authorizationCodeLogin({ issuer: op.op.issuer, client: CHAT, login: 'alice', scope: 'openid tickets orders', resource });
  const opJwt = await signIn(MCP_JWT);
  const opOpaque = await signIn(MCP_OPAQUE);
  const opRevoked = await signIn(MCP_OPAQUE);
  await revokeAtProvider(op.op.issuer, CHAT.client_id, CHAT.client_secret, opRevoked.access_token);

  // Node side of the "same engine, same results" comparison.
  const dir = readPolicyDir('policies');
  const bundle = await buildPolicyBundle(dir.policies, { source: 'policies' });
  const nodeEngine = createEngine({ policies: dir.policies });
  const cases = crossProduct(dir);
  const nodeDecisions: CheckResult[] = cases.map((c) => nodeEngine.check(c, { now: new Date(DECISION_NOW) }));
  const nodeSuiteResults = runTestSuites({ policies: dir.policies, suites: dir.suites, testdata: dir.testdata });
  // query plans: every principal of the testdata x every kind and action the suites ask about
  const planCases: PlanInput[] = [];
  const seenPlan = new Set<string>();
  for (const c of cases)
    for (const action of c.actions) {
      const k = `${JSON.stringify(c.principal)}|${c.resource.kind}|${action}`;
      if (seenPlan.has(k)) continue;
      seenPlan.add(k);
      planCases.push({ principal: c.principal, resource: { kind: c.resource.kind }, action });
    }
  const nodePlans: PlanResult[] = planCases.map((c) => nodeEngine.plan(c, { now: new Date(DECISION_NOW) }));

  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: './wrangler.toml' },
        miniflare: {
          bindings: {
            BATON_CONFIG: JSON.stringify(config),
            BATON_SIGNING_KEYS: JSON.stringify([oldSigning, signing]),
            BATON_STORE: 'durable-object',
            BATON_DECISION_LOG: 'off',
            TEST_ORDERS_SECRET: ordersSecret,
            TEST_ISSUER: ISSUER,
            TEST_IDP: IDP,
            TEST_MCP_AUDIENCE: MCP_AUDIENCE,
            TEST_IDP_PRIVATE_JWK: JSON.stringify(idp.priv),
            TEST_CLIENT_PRIVATE_JWK: JSON.stringify(client.priv),
            TEST_SIGNING_KID: signing.kid!,
            TEST_OLD_SIGNING_KID: oldSigning.kid!,
            TEST_FRESH_BUNDLE: JSON.stringify(bundle),
            TEST_POLICY_SUITES: JSON.stringify({ suites: dir.suites, testdata: [...dir.testdata] }),
            TEST_CASES: JSON.stringify(cases),
            TEST_DECISION_NOW: DECISION_NOW,
            TEST_NODE_DECISIONS: JSON.stringify(nodeDecisions),
            TEST_NODE_SUITE_RESULTS: JSON.stringify(nodeSuiteResults),
            TEST_OP_ISSUER: op.op.issuer,
            TEST_OP_JWT: opJwt.access_token,
            TEST_OP_OPAQUE: opOpaque.access_token,
            TEST_OP_REVOKED: opRevoked.access_token,
            TEST_OP_INTROSPECTOR_JWK: JSON.stringify(op.introspectorJwk),
            TEST_PLAN_CASES: JSON.stringify(planCases),
            TEST_NODE_PLANS: JSON.stringify(nodePlans),
          },
        },
      }),
    ],
    test: {
      reporters: process.env.CI === 'true' ? ['default', 'json'] : ['default'],
      outputFile: { json: 'test-results/workers.json' },
      include: ['test/workers/**/*.test.ts'],
      // decision log lines (the default stdout sink) are asserted through sinks in the tests, not read from the console
      onConsoleLog: (log: string) => !(log.startsWith('{"time":') && log.includes('"hop":')),
      testTimeout: 30_000,
      hookTimeout: 60_000,
    },
  };
});
