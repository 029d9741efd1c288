// `baton/verify` on Node: the same API, with JWS signatures checked by synchronous node:crypto instead of Web Crypto
// (no per-call async dispatch) and decision lines written to stdout in batches by asynchronous writes (bounded; see
// src/log/sink.node.ts). Selected by the "node" export condition; Workers and browsers get ./index.ts.
import { installNodeJwsCrypto } from '../jose/crypto.node.js';
import { installNodeLineWriter } from '../log/sink.node.js';

installNodeJwsCrypto();
installNodeLineWriter();

export * from './index.js';
