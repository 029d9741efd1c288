/**
 * What the server and the composition root tell an observer (the Prometheus metrics of `metrics.node.ts` on Node;
 * none on Workers): requests answered, decisions, store operations. Workers-safe: only the interface and the store
 * wrapper live here.
 */
import type { RateLimitCheck, RevocationListener, Store } from '../store/types.js';
import type { ReloadStatus } from './reload.js';

export interface Observer {
  /** one HTTP request answered: its route pattern (never the raw path), method, status and time */
  request(route: string, method: string, status: number, seconds: number): void;
  /**
   * one decision (any hop's), from the draft the hop emitted: counted by event, effect, error and reason code; policy
   * decisions by policy. Called as a plain function (no `this`).
   */
  decision(hop: string, draft: object): void;
  /** one store operation and whether it failed */
  store(op: string, seconds: number, failed: boolean): void;
  /** the current serving set, read when the metrics are scraped */
  serving(read: () => ServingInfo): void;
  /** one fetch of a JWKS: `ok`, `http_error` (a status other than 2xx) or `error` (no answer) */
  jwksFetch(outcome: 'ok' | 'http_error' | 'error', seconds: number): void;
  /** one traced stage ended (`observeStages` of src/trace) */
  stage(name: string, seconds: number, failed: boolean): void;
  /** the exposition `/metrics` answers with */
  exposition(): Promise<{ contentType: string; body: string }>;
}

/** What the metrics say about the set serving now. */
export interface ServingInfo {
  policyHash: string | undefined;
  signingKid: string;
  status: ReloadStatus;
}

/** Runs one store operation, timed, its failure counted. */
async function timed<R>(observer: Pick<Observer, 'store'>, op: string, run: () => Promise<R>): Promise<R> {
  const t0 = performance.now();
  try {
    const r = await run();
    observer.store(op, (performance.now() - t0) / 1000, false);
    return r;
  } catch (e) {
    observer.store(op, (performance.now() - t0) / 1000, true);
    throw e;
  }
}

/** The store with each operation timed and its failures counted; everything else is the original's. */
export function observedStore(store: Store, observer: Pick<Observer, 'store'>): Store {
  const all = store.rateLimitAll;
  const onRevoke = store.onRevoke;
  const live = store.revocationFeedLive;
  return {
    backend: store.backend,
    useOnce: (ns, id, ttl) => timed(observer, 'useOnce', () => store.useOnce(ns, id, ttl)),
    revoke: (txn, until) => timed(observer, 'revoke', () => store.revoke(txn, until)),
    isRevoked: (txn) => timed(observer, 'isRevoked', () => store.isRevoked(txn)),
    rateLimit: (k, l, w) => timed(observer, 'rateLimit', () => store.rateLimit(k, l, w)),
    ...(all !== undefined ? { rateLimitAll: (checks: readonly RateLimitCheck[]) => timed(observer, 'rateLimitAll', () => all.call(store, checks)) } : {}),
    ...(onRevoke !== undefined ? { onRevoke: (l: RevocationListener) => onRevoke.call(store, l) } : {}),
    ...(live !== undefined ? { revocationFeedLive: () => live.call(store) } : {}),
    health: () => timed(observer, 'health', () => store.health()),
    close: () => store.close(),
  };
}

/** A fetch for JWKS that tells the observer each fetch's outcome and time (never its URL). */
export function observedJwksFetch(observer: Pick<Observer, 'jwksFetch'>, inner: (input: URL, init: RequestInit) => Promise<Response> = (i, init) => fetch(i, init)): (input: URL, init: RequestInit) => Promise<Response> {
  return async (input, init) => {
    const t0 = performance.now();
    try {
      const res = await inner(input, init);
      observer.jwksFetch(res.ok ? 'ok' : 'http_error', (performance.now() - t0) / 1000);
      return res;
    } catch (e) {
      observer.jwksFetch('error', (performance.now() - t0) / 1000);
      throw e;
    }
  };
}
