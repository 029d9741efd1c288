/**
 * Baton's tracing, through `@opentelemetry/api` only: the application chooses the SDK and the exporter (none
 * registered: no span is started, the stages are only timed for the metrics). One span per exchange step,
 * verification and authorization; W3C `traceparent` read from requests and written into outgoing calls. Workers-safe.
 */
import { context, propagation, trace, INVALID_SPAN_CONTEXT, ProxyTracerProvider, SpanStatusCode, TraceFlags, type Attributes, type Context, type Span, type Tracer } from '@opentelemetry/api';

export type { Attributes, Span };

const TRACER = 'baton';
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export interface TraceOptions {
  /** put the subject (`baton.sub`) on spans; off by default (a user identifier is personal data) */
  includeSub: boolean;
  /** false: no span is even started (Baton's code runs as if untraced); default true */
  enabled: boolean;
}
const options: TraceOptions = { includeSub: false, enabled: true };

/** Sets how Baton's spans are written (process-wide, like the OpenTelemetry API's own globals). */
export function configureTracing(o: Partial<TraceOptions>): void {
  if (o.includeSub !== undefined) options.includeSub = o.includeSub;
  if (o.enabled !== undefined) options.enabled = o.enabled;
}

/** The span given to code when tracing is disabled: the API's non-recording span of an invalid context. */
const UNTRACED = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/** `baton.sub` when configured, else nothing. */
export function subAttribute(sub: string | undefined): Attributes {
  return options.includeSub && sub !== undefined ? { 'baton.sub': sub } : {};
}

/** Observes how long each span took (the metrics' per-stage histogram); one observer, set by the application. */
export type StageObserver = (name: string, seconds: number, failed: boolean) => void;
let stageObserver: StageObserver | undefined;
export function observeStages(o: StageObserver | undefined): void {
  stageObserver = o;
}

/** The carrier of a request's trace headers: `traceparent` (and `tracestate`). */
export interface TraceHeaders {
  traceparent?: string | undefined;
  tracestate?: string | undefined;
}

const getter = { keys: (c: TraceHeaders) => Object.keys(c), get: (c: TraceHeaders, k: string) => (k === 'traceparent' ? c.traceparent : k === 'tracestate' ? c.tracestate : undefined) };

/**
 * The parent context of a request: the application's propagator first; when none is registered (the API's default
 * propagates nothing), the W3C `traceparent` read here.
 */
export function parentContext(h: TraceHeaders | undefined): Context {
  const active = context.active();
  if (h?.traceparent === undefined) return active;
  const extracted = propagation.extract(active, h, getter);
  if (trace.getSpanContext(extracted) !== undefined) return extracted;
  const m = TRACEPARENT.exec(h.traceparent.trim().toLowerCase());
  if (m === null || /^0+$/.test(m[1]!) || /^0+$/.test(m[2]!)) return active;
  return trace.setSpanContext(active, { traceId: m[1]!, spanId: m[2]!, traceFlags: parseInt(m[3]!, 16) & TraceFlags.SAMPLED, isRemote: true });
}

/** Writes the active trace into outgoing headers: the application's propagator, else a W3C `traceparent`. */
export function injectTrace(headers: Headers): void {
  const ctx = context.active();
  const sc = trace.getSpanContext(ctx);
  if (sc === undefined || !trace.isSpanContextValid(sc)) return;
  propagation.inject(ctx, headers, { set: (h, k, v) => h.set(k, v) });
  if (!headers.has('traceparent')) headers.set('traceparent', `00-${sc.traceId}-${sc.spanId}-0${(sc.traceFlags & TraceFlags.SAMPLED).toString(16)}`);
}

/** The trace id of a span, when it is a real one (an SDK is registered), for the decision log. */
export function traceIdOf(span: Span | undefined): string | undefined {
  const sc = span?.spanContext();
  return sc !== undefined && trace.isSpanContextValid(sc) ? sc.traceId : undefined;
}

/**
 * The tracer of the SDK the application registered, or undefined when there is none: the API's global provider is
 * then its proxy with no delegate, and every span would be the no-op tracer's. Asked on every span (an SDK may be
 * registered at any time); a provider that is not the API's proxy (another copy of the API) is asked for its tracer.
 */
function sdkTracer(): Tracer | undefined {
  const provider = trace.getTracerProvider();
  return provider instanceof ProxyTracerProvider ? provider.getDelegateTracer(TRACER) : provider.getTracer(TRACER);
}

/**
 * The span the no-op tracer would start under `parent`: a non-recording span carrying the parent's span context (a
 * caller's `traceparent`: its trace id still goes into the decision log), else the invalid one. Nothing else is built:
 * no span object of the API's, no context for it (it would hold the same span context as `parent`).
 */
function untracedSpan(parent: Context | undefined): Span {
  const sc = parent === undefined ? undefined : trace.getSpanContext(parent);
  return sc !== undefined && trace.isSpanContextValid(sc) ? trace.wrapSpanContext(sc) : UNTRACED;
}

/** Runs `fn` with `parent` active when it is not already (an explicit parent: a request's `traceparent`). */
function within<T>(parent: Context | undefined, span: Span, fn: (span: Span) => T): T {
  return parent === undefined || parent === context.active() ? fn(span) : context.with(parent, fn, undefined, span);
}

/** A span's attributes, or how to compute them: a function is only called when a span is started (an SDK is there). */
export type SpanAttributes = Attributes | (() => Attributes);

/** `fn(span)` as a promise (what an async function calling it would return), with no async frame of its own. */
function settled<T>(fn: (span: Span) => Promise<T> | T, span: Span): Promise<T> {
  try {
    return Promise.resolve(fn(span));
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * Runs `fn` in a span named `name` (a child of `parent`, default the active context), ends it, records a thrown error
 * (its name only: a message could carry input) and tells the stage observer how long it took. With no SDK registered
 * no span is started (see `untracedSpan`): `fn` is called directly and only the stage is timed (a `then` on its
 * promise: no async frame, no span, no context per stage).
 */
export function inSpan<T>(name: string, attributes: SpanAttributes, fn: (span: Span) => Promise<T> | T, parent?: Context): Promise<T> {
  if (!options.enabled) return settled(fn, UNTRACED);
  const tracer = sdkTracer();
  if (tracer !== undefined) return traced(tracer, name, attributes, fn, parent);
  const observe = stageObserver;
  const span = untracedSpan(parent);
  if (observe === undefined) {
    try {
      return Promise.resolve(within(parent, span, fn));
    } catch (e) {
      return Promise.reject(e);
    }
  }
  const t0 = performance.now();
  let p: Promise<T> | T;
  try {
    p = within(parent, span, fn);
  } catch (e) {
    observe(name, (performance.now() - t0) / 1000, true);
    return Promise.reject(e);
  }
  return Promise.resolve(p).then(
    (r) => {
      observe(name, (performance.now() - t0) / 1000, false);
      return r;
    },
    (e: unknown) => {
      observe(name, (performance.now() - t0) / 1000, true);
      throw e;
    },
  );
}

/** `inSpan` with an SDK's tracer: a real span, active while `fn` runs. */
async function traced<T>(tracer: Tracer, name: string, attributes: SpanAttributes, fn: (span: Span) => Promise<T> | T, parent: Context | undefined): Promise<T> {
  const s = startStage(tracer, name, attributes, parent ?? context.active());
  try {
    return await context.with(s.context, () => fn(s.span));
  } catch (e) {
    throw s.failed(e);
  } finally {
    s.end();
  }
}

/** The synchronous form of `inSpan` (the scope decision, `authorize`). */
export function inSpanSync<T>(name: string, attributes: SpanAttributes, fn: (span: Span) => T): T {
  if (!options.enabled) return fn(UNTRACED);
  const tracer = sdkTracer();
  if (tracer === undefined) {
    const observe = stageObserver;
    const span = untracedSpan(context.active());
    if (observe === undefined) return fn(span);
    const t0 = performance.now();
    let failed = true;
    try {
      const r = fn(span);
      failed = false;
      return r;
    } finally {
      observe(name, (performance.now() - t0) / 1000, failed);
    }
  }
  const s = startStage(tracer, name, attributes, context.active());
  try {
    return context.with(s.context, () => fn(s.span));
  } catch (e) {
    throw s.failed(e);
  } finally {
    s.end();
  }
}

/** One span of `inSpan`/`inSpanSync`: started under `parent`, its error recorded by name only, its time observed once. */
function startStage(tracer: Tracer, name: string, attributes: SpanAttributes, parent: Context): { span: Span; context: Context; failed(e: unknown): unknown; end(): void } {
  const span = tracer.startSpan(name, { attributes: typeof attributes === 'function' ? attributes() : attributes }, parent);
  const started = stageObserver === undefined ? 0 : performance.now();
  let failed = false;
  return {
    span,
    context: trace.setSpan(parent, span),
    failed(e) {
      failed = true;
      span.setStatus({ code: SpanStatusCode.ERROR, message: e instanceof Error ? e.name : 'error' });
      return e;
    },
    end() {
      span.end();
      stageObserver?.(name, (performance.now() - started) / 1000, failed);
    },
  };
}
