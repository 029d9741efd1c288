// baton/verify: what a downstream service imports to receive a Txn-Token (V-01..V-12).
// Runs unchanged on Node and Cloudflare Workers: imports only jose/, log/ (the scrubber), policy/ types, store/ types
// and the revocation cache; never the server, the exchange pipeline or a Node-only module.
export { createVerifier, parseTxnTokenHeader, DEFAULT_ALGORITHMS } from './verifier.js';
export type { TxnContext, TxnPrincipal, Verifier, VerifierOptions, ServiceDecisionEntry, ServiceDecisionSink } from './verifier.js';
export { TxnTokenError, ForbiddenError, type TxnTokenErrorCode } from './errors.js';
export { verifyRequest, withTxnToken, TXN_TOKEN_HEADER } from './request.js';
export { txnToken, type TxnTokenEnv, type TxnTokenMiddlewareOptions } from './hono.js';
export { authorize, requireAllowed, scopeCovers, principalOf, type AuthorizeDecision, type AuthorizeOptions, type ScopeImplications } from './authorize.js';
export { planFor, type PlanForOptions, type TxnPlan } from './plan.js';
