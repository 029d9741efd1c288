// Issue 16: the per-request counters and histograms (series.node.ts) write what prom-client's own would, observation
// for observation (prom-client is the oracle), and live in the registry like its metrics.
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CounterFamily, HistogramFamily } from './series.node.js';

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** The exposition's sample lines, each with its labels sorted (the order of labels in a line carries no meaning). */
function samples(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const m = /^([^{ ]+)(?:\{(.*)\})? (\S+)$/.exec(l)!;
      const labels = [...(m[2] ?? '').matchAll(/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"/g)].map((x) => x[0]).sort();
      return `${m[1]}{${labels.join(',')}} ${m[3]}`;
    })
    .sort();
}

describe('issue 16: series.node.ts counters and histograms', () => {
  it('issue 16: the same observations give the same exposition as prom-client (buckets, +Inf, sum, count, counters)', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const h = new HistogramFamily({ name: 'x_seconds', help: 'h', labelNames: ['stage', 'outcome'], buckets: BUCKETS, registry: ours });
    const ph = new Histogram({ name: 'x_seconds', help: 'h', labelNames: ['stage', 'outcome'], buckets: BUCKETS, registers: [theirs] });
    const c = new CounterFamily({ name: 'y_total', help: 'c', labelNames: ['route', 'status'], registry: ours });
    const pc = new Counter({ name: 'y_total', help: 'c', labelNames: ['route', 'status'], registers: [theirs] });
    // values on every bound, between bounds, below the first and above the last
    const values = [0, 0.0001, 0.0005, 0.0007, 0.001, 0.003, 0.05, 0.5, 1, 2.5, 3, 100];
    for (const [i, v] of values.entries()) {
      const outcome = i % 3 === 0 ? 'error' : 'ok';
      h.observe(['baton.exchange', outcome], v);
      ph.observe({ stage: 'baton.exchange', outcome }, v);
      c.inc(['/token', String(200 + (i % 2))]);
      pc.inc({ route: '/token', status: String(200 + (i % 2)) });
    }
    h.observe(['baton.verify', 'ok'], 0.002);
    ph.observe({ stage: 'baton.verify', outcome: 'ok' }, 0.002);
    const text = await ours.metrics();
    expect(samples(text)).toEqual(samples(await theirs.metrics()));
    expect(text).toContain('# TYPE x_seconds histogram');
    expect(text).toContain('# TYPE y_total counter');
    expect((await ours.getMetricsAsJSON()).map((m) => [m.name, m.type])).toEqual([['x_seconds', 'histogram'], ['y_total', 'counter']]);
  });

  it('issue 16: a value that is not finite is not counted; resetMetrics forgets every series; a wrong number of labels throws', async () => {
    const registry = new Registry();
    const h = new HistogramFamily({ name: 'z_seconds', help: 'h', labelNames: ['op'], buckets: BUCKETS, registry });
    h.observe(['useOnce'], Number.NaN);
    h.observe(['useOnce'], Number.POSITIVE_INFINITY);
    expect(samples(await registry.metrics())).toEqual([]);
    h.observe(['useOnce'], 0.001);
    expect(samples(await registry.metrics())).toContain('z_seconds_count{op="useOnce"} 1');
    registry.resetMetrics();
    expect(samples(await registry.metrics())).toEqual([]);
    expect(() => h.observe(['a', 'b'], 1)).toThrow(/1 label values expected/);
  });

  it('issue 16: a child observes its series with no lookup, like observe with its label values; it is exposed only once observed, and after a reset from zero', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const h = new HistogramFamily({ name: 'x_seconds', help: 'h', labelNames: ['stage', 'outcome'], buckets: BUCKETS, registry: ours });
    const ph = new Histogram({ name: 'x_seconds', help: 'h', labelNames: ['stage', 'outcome'], buckets: BUCKETS, registers: [theirs] });
    const c = new CounterFamily({ name: 'y_total', help: 'c', labelNames: ['op'], registry: ours });
    const pc = new Counter({ name: 'y_total', help: 'c', labelNames: ['op'], registers: [theirs] });
    const ok = h.child(['baton.exchange', 'ok']);
    const failed = h.child(['baton.exchange', 'error']);
    const used = c.child(['useOnce']);
    c.child(['revoke']); // never incremented: not exposed
    expect(samples(await ours.metrics())).toEqual([]);
    for (const v of [0.0001, 0.001, 0.3, Number.NaN, 5]) {
      ok.observe(v);
      if (Number.isFinite(v)) ph.observe({ stage: 'baton.exchange', outcome: 'ok' }, v);
      used.inc();
      pc.inc({ op: 'useOnce' });
    }
    h.observe(['baton.exchange', 'ok'], 0.002); // the same series through its label values
    ph.observe({ stage: 'baton.exchange', outcome: 'ok' }, 0.002);
    expect(samples(await ours.metrics())).toEqual(samples(await theirs.metrics()));
    ours.resetMetrics();
    theirs.resetMetrics();
    expect(samples(await ours.metrics())).toEqual([]);
    failed.observe(0.01);
    ph.observe({ stage: 'baton.exchange', outcome: 'error' }, 0.01);
    used.inc();
    pc.inc({ op: 'useOnce' });
    expect(samples(await ours.metrics())).toEqual(samples(await theirs.metrics()));
    expect(samples(await ours.metrics())).toContain('y_total{op="useOnce"} 1');
  });
});
