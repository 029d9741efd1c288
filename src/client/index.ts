/**
 * `baton/client`: what a workload (an MCP server, an internal service) imports to get Txn-Tokens from its TTS.
 * Small, Web-standard only (runs on Node and Cloudflare Workers). Token exchange goes through oauth4webapi.
 */
export {
  createTokenExchangeClient,
  privateKeyJwt,
  clientSecret,
  TokenExchangeError,
  TT_ACCESS_TOKEN,
  TT_TXN_TOKEN,
  type TokenExchangeClient,
  type TokenExchangeClientOptions,
  type ClientAuthentication,
  type ExchangeOptions,
  type ReplaceOptions,
  type TxnTokenResult,
} from './exchange.js';
