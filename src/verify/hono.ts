import type { Context, MiddlewareHandler, Next } from 'hono';
import { inSpan, parentContext } from '../trace/index.js';
import { TxnTokenError } from './errors.js';
import { missingWithAuthorization } from './header.js';
import { scopeCovers, type ScopeImplications } from './authorize.js';
import { TXN_TOKEN_HEADER } from '../txn/index.js';
import type { TxnContext } from './context.js';
import type { Verifier } from './verifier.js';

/** hono environment of a route behind `txnToken`: `c.var.txn` is the verified context. */
export interface TxnTokenEnv {
  Variables: { txn: TxnContext };
}

export interface TxnTokenMiddlewareOptions {
  verifier: Verifier;
  /** scope(s) every request must carry (403 `insufficient_scope` otherwise) */
  scope?: string | readonly string[] | undefined;
  implications?: ScopeImplications | undefined;
}

const NO_STORE = { 'Cache-Control': 'no-store' };

/**
 * hono middleware: verifies the `Txn-Token` header (V-01..V-09) and sets `c.var.txn`.
 *   refused token → 401 (503 when a key set or store is unavailable),
 *                   `WWW-Authenticate: Txn-Token error="<code>"`, body `{ error, error_description }`
 *   scope not covered → 403, `WWW-Authenticate: Txn-Token error="insufficient_scope", scope="..."`
 * Nothing of the token is echoed.
 */
export function txnToken(o: TxnTokenMiddlewareOptions): MiddlewareHandler<TxnTokenEnv> {
  const needed = o.scope === undefined ? [] : typeof o.scope === 'string' ? [o.scope] : [...o.scope];
  // the request runs in a span continuing the caller's trace, so calls made while handling it continue it too
  return (c, next) => inSpan('baton.service.request', () => ({ 'http.request.method': c.req.method }), () => guarded(c, next), parentContext({ traceparent: c.req.header('traceparent'), tracestate: c.req.header('tracestate') }));
  async function guarded(c: Context<TxnTokenEnv>, next: Next): Promise<Response | void> {
    let txn: TxnContext;
    try {
      txn = await verifyHeader(o.verifier, c.req.header(TXN_TOKEN_HEADER), c.req.header('authorization') !== undefined);
    } catch (e) {
      const err = e instanceof TxnTokenError ? e : new TxnTokenError('unavailable', 'verification failed unexpectedly', { reason: 'internal', cause: e });
      return c.json({ error: err.code, error_description: err.message }, err.status, {
        ...NO_STORE,
        'WWW-Authenticate': `Txn-Token error="${err.code}"`,
      });
    }
    const missing = needed.filter((s) => !scopeCovers(txn.scope, s, o.implications));
    if (missing.length > 0)
      return c.json({ error: 'insufficient_scope', error_description: `the Txn-Token's scope does not cover ${missing.join(' ')}` }, 403, {
        ...NO_STORE,
        'WWW-Authenticate': `Txn-Token error="insufficient_scope", scope="${needed.join(' ')}"`,
      });
    c.set('txn', txn);
    await next();
  }
}

async function verifyHeader(verifier: Verifier, value: string | undefined, hasAuthorization: boolean): Promise<TxnContext> {
  try {
    return await verifier.verify(value ?? null);
  } catch (e) {
    throw hasAuthorization ? missingWithAuthorization(e) : e;
  }
}
