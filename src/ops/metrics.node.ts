/**
 * Prometheus metrics (prom-client) for `/metrics` on Node. Each `createMetrics` has its own registry (several servers
 * in one process never share counters). Decisions are counted from the decision entries themselves (the same entries
 * the log writes), so a count and a log line cannot disagree. Workers have no `/metrics` (see docs/operations.md).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Observer, ServingInfo } from './observe.js';
import { CounterFamily, HistogramFamily, type HistogramChild } from './series.node.js';

const SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export interface MetricsOptions {
  /** also the process metrics (CPU, memory, event loop) of prom-client; default true */
  processMetrics?: boolean;
  /** prefix of every name; default `baton_` */
  prefix?: string;
}

export interface Metrics extends Observer {
  readonly registry: Registry;
  /** the per-stage observer for `observeStages` (src/trace) */
  stage(name: string, seconds: number, failed: boolean): void;
}

const str = (v: unknown): string => (typeof v === 'string' && v.length > 0 ? v : '');

// long function: one table of metric definitions, each used by one small method below
export function createMetrics(o: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  const p = o.prefix ?? 'baton_';
  if (o.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: p });
  const registers = [registry];
  // the metrics that move on every request: series.node.ts (one Map lookup per observation)
  const requests = new CounterFamily({ name: `${p}http_requests_total`, help: 'HTTP requests answered, by route pattern, method and status', labelNames: ['route', 'method', 'status'], registry });
  const requestSeconds = new HistogramFamily({ name: `${p}http_request_duration_seconds`, help: 'HTTP request latency by route pattern', labelNames: ['route', 'method'], buckets: SECONDS, registry });
  const decisions = new CounterFamily({
    name: `${p}decisions_total`,
    help: 'decisions (exchange, replace, revoke, verify, authorize, ...) by hop, event, effect, OAuth/verification error and reason code',
    labelNames: ['hop', 'event', 'effect', 'error', 'reason_code'],
    registry,
  });
  const rateLimited = new Counter({ name: `${p}rate_limit_refusals_total`, help: 'requests refused by a rate limit, by reason code', labelNames: ['reason_code'], registers });
  const policyDecisions = new CounterFamily({ name: `${p}policy_decisions_total`, help: 'policy decisions by effect and deciding policy', labelNames: ['effect', 'policy'], registry });
  const stages = new HistogramFamily({ name: `${p}stage_duration_seconds`, help: 'latency of each traced stage (exchange steps, verification, authorization)', labelNames: ['stage', 'outcome'], buckets: SECONDS, registry });
  const storeSeconds = new HistogramFamily({ name: `${p}store_operation_duration_seconds`, help: 'store operation latency', labelNames: ['op'], buckets: SECONDS, registry });
  const storeErrors = new Counter({ name: `${p}store_errors_total`, help: 'store operations that failed', labelNames: ['op'], registers });
  const jwks = new Counter({ name: `${p}jwks_fetches_total`, help: "fetches of subject issuers' JWKS, by outcome (ok, http_error, error)", labelNames: ['outcome'], registers });
  const jwksSeconds = new Histogram({ name: `${p}jwks_fetch_duration_seconds`, help: 'JWKS fetch latency', buckets: SECONDS, registers });
  let serving: (() => ServingInfo) | undefined;
  const policyInfo = new Gauge({ name: `${p}policy_set_info`, help: 'the policy set serving (1), by hash', labelNames: ['hash'], registers, collect() {
    this.reset();
    if (serving !== undefined) this.set({ hash: serving().policyHash ?? 'none' }, 1);
  } });
  new Gauge({ name: `${p}policy_set_loaded_timestamp_seconds`, help: 'when the policy set and keys serving were loaded', registers, collect() {
    if (serving !== undefined) this.set(Date.parse(serving().status.loadedAt) / 1000);
  } });
  new Gauge({ name: `${p}signing_key_info`, help: 'the signing key in use (1), by kid', labelNames: ['kid'], registers, collect() {
    this.reset();
    if (serving !== undefined) this.set({ kid: serving().signingKid }, 1);
  } });
  new Gauge({ name: `${p}reloads`, help: 'reloads of policies and keys since start, by outcome', labelNames: ['outcome'], registers, collect() {
    if (serving === undefined) return;
    const s = serving().status;
    this.set({ outcome: 'ok' }, s.reloads.ok);
    this.set({ outcome: 'failed' }, s.reloads.failed);
  } });
  new Gauge({ name: `${p}reload_failed`, help: '1 while the last reload was refused (the previous set keeps serving), else 0', registers, collect() {
    if (serving !== undefined) this.set(serving().status.lastFailure !== undefined ? 1 : 0);
  } });
  void policyInfo;
  // stages and store operations are a fixed set of names (Baton's own): each name's series are found once
  const stageSeries = new Map<string, readonly [ok: HistogramChild, error: HistogramChild]>();
  const storeSeries = new Map<string, HistogramChild>();
  return {
    registry,
    request(route, method, status, seconds) {
      requests.inc([route, method, String(status)]);
      requestSeconds.observe([route, method], seconds);
    },
    decision(hop, draft) {
      // each member read once (a draft's shape differs by hop and outcome: every read is a lookup)
      const e = draft as Record<string, unknown>;
      const event = e.event;
      const code = str(e.reason_code);
      decisions.inc([hop, str(event), str(e.effect), str(e.error), code]);
      if (code.startsWith('limit.')) rateLimited.inc({ reason_code: code });
      const dropped = e.dropped;
      if (event === 'authorize' || dropped !== undefined) countPolicy(policyDecisions, e, event, dropped);
    },
    store(op, seconds, failed) {
      let s = storeSeries.get(op);
      if (s === undefined) storeSeries.set(op, (s = storeSeconds.child([op])));
      s.observe(seconds);
      if (failed) storeErrors.inc({ op });
    },
    jwksFetch(outcome, seconds) {
      jwks.inc({ outcome });
      jwksSeconds.observe(seconds);
    },
    stage(name, seconds, failed) {
      let s = stageSeries.get(name);
      if (s === undefined) stageSeries.set(name, (s = [stages.child([name, 'ok']), stages.child([name, 'error'])]));
      s[failed ? 1 : 0].observe(seconds);
    },
    serving(read) {
      serving = read;
    },
    async exposition() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

/** Policy decisions in an entry: a service's `authorize` (effect, policy), the TTS's scopes dropped by a policy. */
function countPolicy(c: CounterFamily, e: Record<string, unknown>, event: unknown, dropped: unknown): void {
  if (event === 'authorize') {
    const policy = e.policy;
    if (typeof policy === 'string') c.inc([str(e.effect), policy]);
  }
  if (Array.isArray(dropped))
    for (const d of dropped as Array<{ reason?: unknown; policy?: unknown }>) if (d.reason === 'policy') c.inc(['deny', str(d.policy)]);
}
