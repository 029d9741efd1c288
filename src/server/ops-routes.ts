/**
 * The operations endpoints of the TTS's app: `/livez`, `/readyz` (and `/healthz`, kept), `/metrics` when an observer
 * is given, and the request-id and metrics middleware. They only translate HTTP: what is ready is decided by the
 * store's health probe and the reload holder's status.
 */
import type { Context, Hono, MiddlewareHandler } from 'hono';
import type { TokenService } from '../exchange/index.js';
import type { Observer } from '../ops/observe.js';
import type { ReloadStatus } from '../ops/reload.js';
import { StoreUnavailableError, type StoreHealth } from '../store/types.js';

export const REQUEST_ID_HEADER = 'X-Request-Id';
/** A request id is accepted as sent when it is short and plain (it goes into logs); otherwise one is created. */
const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

export interface OpsOptions {
  service: TokenService;
  observer?: Observer | undefined;
  /** the reload holder's status (policies and keys); absent: the set loaded at start, never reloaded */
  reloadStatus?: (() => ReloadStatus) | undefined;
}

/** A request's id from the `X-Request-Id` it sent: as sent when plain, else a new UUID. */
export function requestIdOf(sent: string | undefined): string {
  return sent !== undefined && REQUEST_ID.test(sent) ? sent : crypto.randomUUID();
}

/** The request's id (`requestIdOf`), set for the handlers and returned on the answer. */
export const requestIds: MiddlewareHandler<{ Variables: { requestId: string } }> = async (c, next) => {
  const id = requestIdOf(c.req.header(REQUEST_ID_HEADER));
  c.set('requestId', id);
  await next();
  c.res.headers.set(REQUEST_ID_HEADER, id);
};

/**
 * `requestIds` and the observer's timing of every answer, by route pattern (never the raw path: a path is unbounded),
 * in one middleware: one layer less on every request than two.
 */
export function observedRequestIds(observer: Observer): MiddlewareHandler<{ Variables: { requestId: string } }> {
  return async (c, next) => {
    const t0 = performance.now();
    const id = requestIdOf(c.req.header(REQUEST_ID_HEADER));
    c.set('requestId', id);
    await next();
    c.res.headers.set(REQUEST_ID_HEADER, id);
    const route = c.req.routePath; // hono builds the list of matched routes on every read
    observer.request(route === '/*' ? 'unmatched' : route, c.req.method, c.res.status, (performance.now() - t0) / 1000);
  };
}

async function storeHealth(service: TokenService): Promise<StoreHealth> {
  try {
    return await service.store.health();
  } catch (e) {
    // A probe that throws instead of answering is down; its message is not shown (it could name hosts or URLs).
    return { ok: false, backend: service.store.backend, detail: e instanceof StoreUnavailableError ? 'store unavailable' : 'health probe failed' };
  }
}

/** The store's health without its detail text when down: a backend's message could name a host. */
function shown(h: StoreHealth): { ok: boolean; backend: string } {
  return { ok: h.ok, backend: h.backend };
}

export function addOpsRoutes(app: Hono, o: OpsOptions): void {
  const { service } = o;
  const NO_CACHE = { 'Cache-Control': 'no-store' };
  app.get('/healthz', async (c) => {
    const store = await storeHealth(service);
    return c.json({ status: store.ok ? 'ok' : 'degraded', store }, store.ok ? 200 : 503, NO_CACHE);
  });
  // alive: the process answers; nothing else is asked
  app.get('/livez', (c) => c.json({ status: 'ok' }, 200, NO_CACHE));
  app.get('/readyz', async (c) => readiness(c, o, await storeHealth(service)));
  if (o.observer !== undefined) {
    const observer = o.observer;
    app.get('/metrics', async (c) => {
      const { contentType, body } = await observer.exposition();
      return c.body(body, 200, { 'Content-Type': contentType, ...NO_CACHE });
    });
  }
}

/** Ready: signing keys loaded, policies compiled (a refused reload is shown, the old set serving), store reachable. */
function readiness(c: Context, o: OpsOptions, store: StoreHealth): Response {
  const reasons: string[] = [];
  let kid: string | undefined;
  try {
    kid = o.service.keys.current.kid;
  } catch {
    reasons.push('signing keys not loaded');
  }
  if (!store.ok) reasons.push(`store ${store.backend} unreachable`);
  const reload = o.reloadStatus?.();
  const body = {
    status: reasons.length === 0 ? 'ready' : 'not_ready',
    ...(reasons.length > 0 ? { reasons } : {}),
    checks: {
      keys: kid !== undefined ? { ok: true, kid } : { ok: false },
      policies: { ok: true, loaded: o.service.context.policy !== undefined },
      store: shown(store),
      ...(reload !== undefined ? { reload } : {}),
    },
  };
  return c.json(body, reasons.length === 0 ? 200 : 503, { 'Cache-Control': 'no-store' });
}
