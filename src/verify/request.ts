import { injectTrace } from '../trace/index.js';
import { TXN_TOKEN_HEADER } from '../txn/index.js';
import type { TxnContext } from './context.js';
import { missingWithAuthorization } from './header.js';
import type { Verifier } from './verifier.js';

export { TXN_TOKEN_HEADER };

/**
 * Framework-free verification of a fetch `Request` (Workers `fetch` handlers, Node via a Request adapter).
 * Reads only the `Txn-Token` header (V-01); a token in `Authorization` is never looked at, let alone accepted.
 */
export async function verifyRequest(verifier: Verifier, request: Request): Promise<TxnContext> {
  const value = request.headers.get(TXN_TOKEN_HEADER);
  if (value === null) {
    // Let the verifier log the refusal like any other.
    try {
      return await verifier.verify(null);
    } catch (e) {
      throw request.headers.has('authorization') ? missingWithAuthorization(e) : e;
    }
  }
  return verifier.verify(value);
}

type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/**
 * V-10: a fetch that forwards the Txn-Token exactly as received, in the `Txn-Token` header and nowhere else
 * (never in `Authorization`). Any `Txn-Token` header the caller set is replaced, so there is exactly one. The active
 * trace, when there is one, goes along as `traceparent`.
 */
export function withTxnToken<F extends FetchLike>(fetchImpl: F, txn: TxnContext | { readonly token: string } | string): FetchLike {
  const token = typeof txn === 'string' ? txn : txn.token;
  if (typeof token !== 'string' || token.length === 0 || /[\s,]/.test(token)) throw new TypeError('withTxnToken: not a single Txn-Token');
  return (input, init) => {
    const base = init?.headers ?? (input instanceof Request ? input.headers : undefined);
    const headers = new Headers(base);
    headers.set(TXN_TOKEN_HEADER, token);
    injectTrace(headers); // the transaction's trace goes on with its token (W3C traceparent)
    return fetchImpl(input, { ...init, headers });
  };
}
