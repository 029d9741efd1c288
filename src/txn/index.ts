/**
 * What a Txn-Token means, in one place (issue 11): the URNs and names, the claims and the identity chain, scope and its
 * implications, the principal a policy sees, and reading a token before it is verified. Pure: imports nothing of Baton
 * and nothing Node-only, so the TTS (exchange/, server/), the verifier SDK (verify/), the client SDK (client/) and the
 * MCP helper (mcp/) share it without pulling in each other.
 */
export * from './urns.js';
export * from './claims.js';
export * from './scope.js';
export * from './principal.js';
export * from './peek.js';
