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

/**
 * One store operation, timed from `t0`, its failure counted: the operation's own promise is returned, unchanged (the
 * timing is a reaction of its own on it: no promise, no microtask between the store and its caller). A failing
 * observer changes nothing.
 */
function timed<R>(observer: Pick<Observer, 'store'>, op: string, t0: number, p: Promise<R>): Promise<R> {
  p.then(
    () => tell(observer, op, t0, false),
    () => tell(observer, op, t0, true),
  );
  return p;
}

function tell(observer: Pick<Observer, 'store'>, op: string, t0: number, failed: boolean): void {
  try {
    observer.store(op, (performance.now() - t0) / 1000, failed);
  } catch {
    // a metric never changes a store operation's outcome (nor rejects a promise nobody holds)
  }
}

/** Starts `run` (a store method) timed; a method that throws before returning its promise counts as failed too. */
function start<R>(observer: Pick<Observer, 'store'>, op: string, run: () => Promise<R>): Promise<R> {
  const t0 = performance.now();
  let p: Promise<R>;
  try {
    p = run();
  } catch (e) {
    p = Promise.reject(e);
  }
  return timed(observer, op, t0, p);
}

/** The store with each operation timed and its failures counted; everything else is the original's. */
export function observedStore(store: Store, observer: Pick<Observer, 'store'>): Store {
  const all = store.rateLimitAll;
  const onRevoke = store.onRevoke;
  const live = store.revocationFeedLive;
  return {
    backend: store.backend,
    // the wrapped store's keys stay where its keys are (the memory store's in the process: limits.ts keys by it)
    ...(store.keysInProcess !== undefined ? { keysInProcess: store.keysInProcess } : {}),
    useOnce: (ns, id, ttl) => start(observer, 'useOnce', () => store.useOnce(ns, id, ttl)),
    revoke: (txn, until) => start(observer, 'revoke', () => store.revoke(txn, until)),
    isRevoked: (txn) => start(observer, 'isRevoked', () => store.isRevoked(txn)),
    rateLimit: (k, l, w) => start(observer, 'rateLimit', () => store.rateLimit(k, l, w)),
    ...(all !== undefined ? { rateLimitAll: (checks: readonly RateLimitCheck[]) => start(observer, 'rateLimitAll', () => all.call(store, checks)) } : {}),
    ...(onRevoke !== undefined ? { onRevoke: (l: RevocationListener) => onRevoke.call(store, l) } : {}),
    ...(live !== undefined ? { revocationFeedLive: () => live.call(store) } : {}),
    health: () => start(observer, 'health', () => store.health()),
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
