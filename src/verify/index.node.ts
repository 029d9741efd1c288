// `baton/verify` on Node: the same API, with JWS signatures checked by synchronous node:crypto instead of Web Crypto
// (no per-call async dispatch). Selected by the "node" export condition; Workers and browsers get ./index.ts.
import { installNodeJwsCrypto } from '../jose/crypto.node.js';

installNodeJwsCrypto();

export * from './index.js';
