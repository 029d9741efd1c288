// The decision point (`baton pdp`, or mounted in `baton serve`): the Cerbos HTTP API (check, plan, health,
// server_info), AuthZEN 1.0 (evaluation, evaluations, search, metadata) and forward auth for proxies, over Baton's
// engine. Runs on Node and Workers. Layout: pdp.ts composes cerbos-request.ts/cerbos-api.ts (Cerbos),
// authzen-request.ts/authzen.ts/authzen-search.ts (AuthZEN), forward-auth.ts, txn.ts (a Txn-Token as the principal),
// aux.ts (auxData JWTs), log.ts (one decision entry per call); app.ts is the hono app.
export { createPdp, DEFAULT_LIMITS, type Pdp, type PdpOptions, type PdpPolicies } from './pdp.js';
export { createPdpApp, errorAnswer, parseBody, FORWARD_AUTH_PATH, MAX_PDP_BODY_BYTES } from './app.js';
export { pdpOpenApi, pdpOpenApiDocument } from './openapi.js';
export { catalogFrom, type PolicyCatalog } from './authzen-search.js';
export { CerbosApiError } from './cerbos-errors.js';
export type { RouteSpec, ForwardAnswer, ForwardRequest } from './forward-auth.js';
export type { PdpDecisionEntry } from './log.js';
export type { ScopeTable } from './txn.js';
export type { AuxJwtSettings } from './aux.js';
export type { RequestLimits } from './cerbos-request.js';
