/**
 * Counters and histograms for the metrics that move on every request (HTTP requests, decisions, stages, store
 * operations). prom-client's own `inc`/`observe` check the labels, hash them and look the series up on every call,
 * about a microsecond each, a dozen times per exchange; a cached `labels(...)` child does the same work again (it only
 * skips parsing the arguments). Here a series is found by its label values in nested Maps, and observing is a few
 * additions; a `child` of label values known in advance (a stage and its outcome, a store operation) skips the lookup.
 * A family is registered in the prom-client registry like prom-client's own metrics: the exposition, `metrics()`,
 * `getMetricsAsJSON()` and `resetMetrics()` see it; its output lines are the same (`_bucket` with `le`, `_sum`, `_count`).
 */
import type { Metric, Registry } from 'prom-client';

type Labels = Record<string, string | number>;

/** One series: a counter's value, or a histogram's per-bucket counts (not cumulative), sum and count. */
interface Series {
  readonly labels: Labels;
  /** the label values, in `labelNames` order (a copy made once: a caller's array is never kept) */
  readonly values: readonly string[];
  /** histograms: count of observations in each bucket (index i: `le` = bounds[i], last: above every bound) */
  readonly buckets: Float64Array | undefined;
  sum: number;
  count: number;
  /** in the family's list (exposed); false after a reset until observed again */
  listed: boolean;
}

/** A counter's series of fixed label values (`CounterFamily.child`): adding to it is one addition. */
export interface CounterChild {
  inc(): void;
}
/** A histogram's series of fixed label values (`HistogramFamily.child`): an observation finds no series. */
export interface HistogramChild {
  observe(value: number): void;
}

interface Value {
  labels: Labels;
  value: number;
  metricName?: string;
}

abstract class Family {
  readonly aggregator = 'sum' as const;
  abstract readonly type: 'counter' | 'histogram';
  /** the series, by their label values one level per label (no key string is built: the values' own hashes are used) */
  private readonly root = new Map<string, unknown>();
  private readonly all: Series[] = [];
  /** the series `find` found last */
  private lastSeries: Series | undefined;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    private readonly bounds: readonly number[] | undefined,
    registry: Registry,
  ) {
    if (labelNames.length === 0) throw new Error(`${name}: a family has labels`);
    // a family is not one of prom-client's classes, but has what the registry reads (name, help, type, aggregator,
    // get, reset): see the module comment
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series of these label values (in `labelNames` order), in the exposition from now on. */
  protected at(values: readonly string[]): Series {
    const s = this.find(values);
    if (!s.listed) this.list(s);
    return s;
  }

  /** The series of these label values, created at first use (not exposed until listed: observed). */
  protected find(values: readonly string[]): Series {
    const n = this.labelNames.length;
    if (values.length !== n) throw new Error(`${this.name}: ${n} label values expected`);
    // the series found last, when these are its values again (a steady load: the same labels request after request)
    const last = this.lastSeries;
    if (last !== undefined) {
      let same = 0;
      while (same < n && last.values[same] === values[same]) same++;
      if (same === n) return last;
    }
    let level = this.root;
    for (let i = 0; i < n - 1; i++) {
      let next = level.get(values[i]!) as Map<string, unknown> | undefined;
      if (next === undefined) level.set(values[i]!, (next = new Map<string, unknown>()));
      level = next;
    }
    let s = level.get(values[n - 1]!) as Series | undefined;
    if (s === undefined) {
      const labels: Labels = {};
      this.labelNames.forEach((name, i) => (labels[name] = values[i]!));
      s = { labels, values: values.slice(), buckets: this.bounds !== undefined ? new Float64Array(this.bounds.length + 1) : undefined, sum: 0, count: 0, listed: false };
      level.set(values[n - 1]!, s);
    }
    this.lastSeries = s;
    return s;
  }

  /** Puts a series (new, or not observed since a reset) in the exposition. */
  protected list(s: Series): void {
    s.listed = true;
    this.all.push(s);
  }

  protected bucketOf(seconds: number): number {
    const b = this.bounds!;
    let i = 0;
    while (i < b.length && seconds > b[i]!) i++;
    return i;
  }

  /** What prom-client's registry reads to write the exposition and the JSON (the same shape as its own metrics'). */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: 'sum'; values: Value[] }> {
    const values: Value[] = [];
    for (const s of this.all) {
      if (s.buckets === undefined) {
        values.push({ labels: s.labels, value: s.count });
        continue;
      }
      let acc = 0;
      this.bounds!.forEach((le, i) => {
        acc += s.buckets![i]!;
        values.push({ labels: { ...s.labels, le }, value: acc, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { ...s.labels, le: '+Inf' }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /**
   * Forgets every series (prom-client's `reset`): none is exposed until observed again, from zero. The series objects
   * are kept (zeroed) for the children holding them; the label values seen stay in the lookup (a bounded set).
   */
  reset(): void {
    for (const s of this.all) {
      s.listed = false;
      s.sum = 0;
      s.count = 0;
      s.buckets?.fill(0);
    }
    this.all.length = 0;
  }
}

export class CounterFamily extends Family {
  readonly type = 'counter';
  constructor(o: { name: string; help: string; labelNames: readonly string[]; registry: Registry }) {
    super(o.name, o.help, o.labelNames, undefined, o.registry);
  }

  /** Adds one to the series of these label values. */
  inc(values: readonly string[]): void {
    this.at(values).count++;
  }

  /** The series of these label values, to add to with no lookup (for label values known in advance). */
  child(values: readonly string[]): CounterChild {
    const s = this.find(values);
    return {
      inc: () => {
        if (!s.listed) this.list(s);
        s.count++;
      },
    };
  }
}

export class HistogramFamily extends Family {
  readonly type = 'histogram';
  constructor(o: { name: string; help: string; labelNames: readonly string[]; buckets: readonly number[]; registry: Registry }) {
    super(o.name, o.help, o.labelNames, [...o.buckets].sort((a, b) => a - b), o.registry);
  }

  /** One observation in the series of these label values (a value that is not finite is not counted). */
  observe(values: readonly string[], value: number): void {
    if (Number.isFinite(value)) this.add(this.at(values), value);
  }

  /** The series of these label values, to observe with no lookup (for label values known in advance). */
  child(values: readonly string[]): HistogramChild {
    const s = this.find(values);
    return {
      observe: (value) => {
        if (!Number.isFinite(value)) return;
        if (!s.listed) this.list(s);
        this.add(s, value);
      },
    };
  }

  private add(s: Series, value: number): void {
    s.buckets![this.bucketOf(value)]!++;
    s.sum += value;
    s.count++;
  }
}
