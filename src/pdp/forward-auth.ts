/**
 * Forward auth: a proxy asks, for each request it receives, whether to let it through. One endpoint for
 *   Envoy ext_authz (HTTP)  the original method, and the original path after the endpoint's path (`path_prefix`)
 *   nginx auth_request      `X-Original-Method` and `X-Original-URI` (set with proxy_set_header)
 *   Traefik forwardAuth, Caddy forward_auth   `X-Forwarded-Method` and `X-Forwarded-Uri`
 * The `Txn-Token` header is verified, the route table gives the resource kind, action and scope (`:name` path
 * segments become `resource.attr.name`, `:id` also `resource.id`), and `authorize` decides (scope, then policy; its
 * decision is logged joined on `txn`). Answers: 200 with `X-Baton-Sub`/`X-Baton-Txn` for the upstream; 401 with
 * `WWW-Authenticate: Txn-Token error="…"`; 403 (scope, policy, or no route: an unknown route is denied).
 */
import type { Engine } from '../policy/index.js';
import { authorize, type ScopeImplications } from '../verify/authorize.js';
import { TxnTokenError } from '../verify/errors.js';
import type { TxnContext } from '../verify/context.js';
import type { PdpLog } from './log.js';
import type { TxnAuth } from './txn.js';

/** where the proxies send their subrequests (and, for Envoy, the original path after it) */
export const FORWARD_AUTH_PATH = '/forward-auth';

export interface RouteSpec {
  method: string;
  path: string;
  kind: string;
  action: string;
  scope?: string | readonly string[] | undefined;
}

interface CompiledRoute extends RouteSpec {
  parts: readonly string[];
  rest: boolean;
}

export interface ForwardAuthContext {
  engine: () => Engine;
  txn: TxnAuth | undefined;
  implications: ScopeImplications | undefined;
  routes: readonly RouteSpec[];
  log: PdpLog;
  now: () => number;
}

export interface ForwardRequest {
  /** the method and path+query of the request the proxy received */
  method: string;
  uri: string;
  txnHeader: string | undefined;
}

export interface ForwardAnswer {
  status: 200 | 401 | 403 | 503;
  headers: Record<string, string>;
  body: { error?: string; error_description?: string } | null;
}

export function compileRoutes(routes: readonly RouteSpec[]): CompiledRoute[] {
  return routes.map((r) => {
    const parts = r.path.split('/').slice(1);
    const rest = parts[parts.length - 1] === '*';
    return { ...r, method: r.method.toUpperCase(), parts: rest ? parts.slice(0, -1) : parts, rest };
  });
}

/** The route for a method and path, and its path parameters; undefined when none matches (or the path is unsafe). */
export function matchRoute(routes: readonly CompiledRoute[], method: string, uri: string): { route: CompiledRoute; params: Record<string, string>; path: string } | undefined {
  const q = uri.search(/[?#]/);
  const path = q < 0 ? uri : uri.slice(0, q);
  if (!path.startsWith('/')) return undefined;
  let segs: string[];
  try {
    segs = path.split('/').slice(1).map((s) => decodeURIComponent(s));
  } catch {
    return undefined;
  }
  // a dot segment or an encoded slash would let a path name another route's resource than the upstream serves
  if (segs.some((s) => s === '.' || s === '..' || s.includes('/'))) return undefined;
  const m = method.toUpperCase();
  for (const r of routes) {
    if (r.method !== '*' && r.method !== m) continue;
    if (r.rest ? segs.length < r.parts.length : segs.length !== r.parts.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < r.parts.length && ok; i++) {
      const p = r.parts[i]!;
      if (p.startsWith(':')) {
        if (segs[i] === '') ok = false;
        else params[p.slice(1)] = segs[i]!;
      } else ok = p === segs[i];
    }
    if (ok) return { route: r, params, path };
  }
  return undefined;
}

/** What each proxy says the original request was. */
export function originalRequest(headers: (name: string) => string | undefined, ownMethod: string, ownPath: string, mount: string): { method: string; uri: string } {
  const fm = headers('x-forwarded-method');
  const fu = headers('x-forwarded-uri');
  if (fm !== undefined && fu !== undefined) return { method: fm, uri: fu };
  const om = headers('x-original-method');
  const ou = headers('x-original-uri');
  if (ou !== undefined) return { method: om ?? ownMethod, uri: ou };
  // Envoy ext_authz (HTTP): the check request is the original method and the original path after path_prefix
  const rest = ownPath.slice(mount.length);
  return { method: ownMethod, uri: rest === '' ? '/' : rest };
}

const NO_STORE = { 'Cache-Control': 'no-store' };

function refused(e: unknown): ForwardAnswer {
  const err = e instanceof TxnTokenError ? e : new TxnTokenError('unavailable', 'verification failed unexpectedly', { reason: 'internal', cause: e });
  return {
    status: err.status,
    headers: { ...NO_STORE, 'WWW-Authenticate': `Txn-Token error="${err.code}"` },
    body: { error: err.code, error_description: err.message },
  };
}

function forbidden(description: string, extra: Record<string, string> = {}): ForwardAnswer {
  return { status: 403, headers: { ...NO_STORE, ...extra }, body: { error: 'forbidden', error_description: description } };
}

/** The forward-auth decision for one proxied request. */
export async function forwardAuth(ctx: ForwardAuthContext, routes: readonly CompiledRoute[], req: ForwardRequest): Promise<ForwardAnswer> {
  if (ctx.txn === undefined) return refused(new TxnTokenError('unavailable', 'no Txn-Token verifier is configured (pdp.txnToken)', { reason: 'internal' }));
  let txn: TxnContext;
  try {
    txn = await ctx.txn.verify(req.txnHeader);
  } catch (e) {
    return refused(e);
  }
  const found = matchRoute(routes, req.method, req.uri);
  if (found === undefined) {
    ctx.log.emit({
      event: 'forward_auth',
      api: 'forward_auth',
      effect: 'deny',
      txn: txn.txn,
      sub: txn.sub,
      workload: txn.actor,
      chain: [...txn.chain],
      method: req.method.toUpperCase().slice(0, 16),
      path: req.uri.split('?')[0]!.slice(0, 256),
      policy: 'route',
      reason: 'no route matches the request (denied)',
      reason_code: 'route.unknown',
    });
    return forbidden('no route matches the request');
  }
  const { route, params, path } = found;
  const scope = route.scope ?? ctx.txn.needed(route.kind, route.action);
  if (scope === undefined) {
    ctx.log.emit({ event: 'forward_auth', api: 'forward_auth', effect: 'deny', txn: txn.txn, sub: txn.sub, action: route.action, resource: { kind: route.kind }, policy: 'scope', reason: 'no scope is configured for this route (denied)', reason_code: 'route.no_scope' });
    return forbidden('no scope is configured for this route');
  }
  const resource = { kind: route.kind, id: params.id ?? path, attr: params };
  const d = authorize(txn, resource, route.action, { engine: ctx.engine(), scope, implications: ctx.implications, now: new Date(ctx.now()) });
  if (!d.allowed) {
    if (d.policy === 'scope')
      return forbidden(d.reason, { 'WWW-Authenticate': `Txn-Token error="insufficient_scope", scope="${(typeof scope === 'string' ? [scope] : scope).join(' ')}"` });
    return forbidden('denied by policy');
  }
  return { status: 200, headers: { ...NO_STORE, 'X-Baton-Sub': txn.sub, 'X-Baton-Txn': txn.txn }, body: null };
}
