// baton/verify: what a downstream service imports to receive a Txn-Token (V-01..V-12).
// Runs unchanged on Node and Cloudflare Workers: imports only txn/ (what a Txn-Token means), jose/, log/, policy/
// types, store/ types and the revocation cache; never the server, the exchange pipeline or a Node-only module.
// Layout: verifier.ts composes options.ts, header.ts, keys.ts, cache.ts, checks.ts, decision.ts into createVerifier;
// context.ts is the verified TxnContext; authorize.ts the policy decision (V-12); hono.ts and request.ts the adapters.
export { createVerifier, parseTxnTokenHeader, DEFAULT_ALGORITHMS } from './verifier.js';
export type { TxnContext, TxnPrincipal, Verifier, VerifierOptions, ServiceDecisionEntry, ServiceDecisionSink } from './verifier.js';
export { TxnTokenError, type TxnTokenErrorCode, type TxnTokenReason } from './errors.js';
export { verifyRequest, withTxnToken, TXN_TOKEN_HEADER } from './request.js';
export { txnToken, type TxnTokenEnv, type TxnTokenMiddlewareOptions } from './hono.js';
export { authorize, ForbiddenError, principalOf, requireAllowed, scopeCovers, type AuthorizeDecision, type AuthorizeOptions, type ScopeImplications } from './authorize.js';
export { planFor, type PlanForOptions, type TxnPlan } from './plan.js';
