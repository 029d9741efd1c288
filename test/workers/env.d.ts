// Types of the `cloudflare:test` module for the workerd tests (only what they use; no @cloudflare/workers-types).
declare module 'cloudflare:test' {
  import type { DurableObjectNamespaceLike } from '../../src/store/durable-object.js';
  export interface TestEnv {
    BATON_CONFIG: string;
    BATON_SIGNING_KEYS: string;
    BATON_STORE: string;
    BATON_DECISION_LOG: string;
    BATON_STORE_DO: DurableObjectNamespaceLike;
    TEST_ORDERS_SECRET: string;
    TEST_ISSUER: string;
    TEST_IDP: string;
    TEST_MCP_AUDIENCE: string;
    TEST_IDP_PRIVATE_JWK: string;
    TEST_CLIENT_PRIVATE_JWK: string;
    TEST_SIGNING_KID: string;
    TEST_OLD_SIGNING_KID: string;
    TEST_FRESH_BUNDLE: string;
    TEST_POLICY_SUITES: string;
    TEST_CASES: string;
    TEST_DECISION_NOW: string;
    TEST_NODE_DECISIONS: string;
    TEST_NODE_SUITE_RESULTS: string;
    TEST_OP_ISSUER: string;
    TEST_OP_JWT: string;
    TEST_OP_OPAQUE: string;
    TEST_OP_REVOKED: string;
    TEST_OP_INTROSPECTOR_JWK: string;
    TEST_PLAN_CASES: string;
    TEST_NODE_PLANS: string;
    [binding: string]: unknown;
  }
  export const env: TestEnv;
  /** the Worker of wrangler.toml (src/worker.ts), called through the runtime like a real request */
  export const SELF: { fetch(input: string | Request | URL, init?: RequestInit): Promise<Response> };
}
