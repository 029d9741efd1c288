/**
 * Issue 16: with no OpenTelemetry SDK registered, `inSpan`/`inSpanSync` call the function directly (no span started,
 * lazy attributes never built) and only time the stage; an SDK registered later, or again after `trace.disable()`, is
 * noticed on the next span. The outcome is the function's own: its value, its rejection, a synchronous throw as a
 * rejected promise.
 */
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, describe, expect, it } from 'vitest';
import { configureTracing, inSpan, inSpanSync, observeStages, type Span } from '../../src/trace/index.js';

const exporter = new InMemorySpanExporter();
const stages: Array<[string, boolean]> = [];
observeStages((name, seconds, failed) => {
  expect(seconds).toBeGreaterThanOrEqual(0);
  stages.push([name, failed]);
});
afterAll(() => {
  observeStages(undefined);
  trace.disable();
  context.disable();
  configureTracing({ enabled: true });
});

/** One async and one synchronous stage, with lazy attributes; what they saw. */
async function stagesRun(): Promise<{ built: number; recording: boolean[] }> {
  let built = 0;
  const recording: boolean[] = [];
  const attrs = () => {
    built++;
    return { 'test.attr': 'x' };
  };
  const v = await inSpan('t.async', attrs, async (span: Span) => {
    recording.push(span.isRecording());
    return inSpanSync('t.sync', attrs, (s) => {
      recording.push(s.isRecording());
      return 7;
    });
  });
  expect(v).toBe(7);
  return { built, recording };
}

describe('issue 16: no-op tracing, and an SDK registered later', () => {
  it('issue 16: no SDK: no span, attributes not built, stages timed; values, rejections and synchronous throws pass through', async () => {
    stages.length = 0;
    expect(await stagesRun()).toEqual({ built: 0, recording: [false, false] });
    expect(stages).toEqual([['t.sync', false], ['t.async', false]]);
    stages.length = 0;
    const thrown = inSpan('t.throws', {}, () => {
      throw new TypeError('sync');
    });
    expect(thrown).toBeInstanceOf(Promise);
    await expect(thrown).rejects.toThrow('sync');
    await expect(inSpan('t.rejects', {}, async () => Promise.reject(new RangeError('async')))).rejects.toThrow('async');
    expect(() => inSpanSync('t.sync-throws', {}, () => {
      throw new Error('s');
    })).toThrow('s');
    expect(stages).toEqual([['t.throws', true], ['t.rejects', true], ['t.sync-throws', true]]);
    // tracing disabled: the same outcomes, nothing timed
    configureTracing({ enabled: false });
    stages.length = 0;
    expect(await inSpan('t.off', {}, () => 3)).toBe(3);
    await expect(inSpan('t.off', {}, () => {
      throw new Error('off');
    })).rejects.toThrow('off');
    expect(stages).toEqual([]);
    configureTracing({ enabled: true });
  });

  it('issue 16: an SDK registered after spans ran without one is used from the next span on, also after trace.disable()', async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    stages.length = 0;
    expect(await stagesRun()).toEqual({ built: 2, recording: [true, true] });
    const spans = exporter.getFinishedSpans();
    expect(spans.map((s) => [s.name, s.attributes['test.attr']])).toEqual([['t.sync', 'x'], ['t.async', 'x']]);
    expect(spans[0]!.parentSpanContext?.spanId).toBe(spans[1]!.spanContext().spanId);
    expect(stages).toEqual([['t.sync', false], ['t.async', false]]);
    // disabled, then another SDK: the API makes a new proxy provider; it is found too
    trace.disable();
    exporter.reset();
    expect(await stagesRun()).toEqual({ built: 0, recording: [false, false] });
    expect(exporter.getFinishedSpans()).toEqual([]);
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    expect(await stagesRun()).toEqual({ built: 2, recording: [true, true] });
    expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual(['t.sync', 't.async']);
  });
});
