// The one emitter and the non-blocking stdout sink of the decision log.
import * as fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isoTime } from './scrub.js';
import { consoleLines, createDecisionLogger, decisionLog, renderDecisionLine, renderLater, scrub, stdoutDecisions, stdoutLines, stdoutWriter, toJsonLine, useStdoutWriter } from './index.js';

afterEach(() => vi.restoreAllMocks());

describe('decisionLog: the one emitter every hop writes through', () => {
  it('V-11 stamps time and hop, keeps event and effect first, scrubs before the sink sees the entry', () => {
    const seen: unknown[] = [];
    const log = decisionLog({ hop: 'tts', sink: (e) => seen.push(e), now: () => new Date('2026-01-02T03:04:05Z') });
    const jwt = `${btoa('{"alg":"EdDSA"}')}.${btoa('{"sub":"alice"}')}.c2lnbmF0dXJl`;
    log.emit({ workload: 'agent', event: 'exchange', effect: 'deny', subject_token: jwt, reason: `bad ${jwt}` });
    expect(seen).toEqual([{ time: '2026-01-02T03:04:05.000Z', hop: 'tts', event: 'exchange', effect: 'deny', workload: 'agent', reason: 'bad [redacted jwt]' }]);
    expect(Object.keys(seen[0] as object).slice(0, 4)).toEqual(['time', 'hop', 'event', 'effect']);
    expect(Object.isFrozen(seen[0])).toBe(true);
  });

  it('a sink that throws never throws into the decision; no sink, nothing built', () => {
    const log = decisionLog({ hop: 'svc', sink: () => {
      throw new Error('disk full');
    } });
    expect(() => log.emit({ event: 'verify', effect: 'deny' })).not.toThrow();
    const off = decisionLog({ hop: 'svc', sink: undefined });
    expect(off.enabled).toBe(false);
    expect(() => off.emit({ event: 'verify', effect: 'deny' })).not.toThrow();
  });

  it('issue 16: a count sees every draft with its hop, before any stamp or scrub, and a failing count changes nothing', () => {
    const counted: Array<[string, object]> = [];
    const seen: unknown[] = [];
    let ruleRead = false;
    const dropped = [{ scope: 'tickets:write', reason: 'policy', policy: 'resource.txn_token.vdefault' }];
    Object.defineProperty(dropped[0], 'rule', { enumerable: true, get: () => ((ruleRead = true), 'deny-write') });
    const counting = decisionLog({ hop: 'tts', sink: undefined, count: (hop, d) => counted.push([hop, d]) });
    expect(counting.enabled).toBe(true);
    const draft = { event: 'exchange', effect: 'grant', dropped };
    counting.emit(draft);
    expect(counted.map(([hop]) => hop)).toEqual(['tts']);
    expect(counted[0]![1]).toBe(draft); // the draft itself: nothing copied, stamped or scrubbed for a count
    expect(ruleRead).toBe(false); // nothing walked the entry (a scrub would have read the lazy rule)
    const both = decisionLog({ hop: 'svc', sink: (e) => seen.push(e), count: () => {
      throw new Error('bad label');
    } });
    expect(() => both.emit({ event: 'verify', effect: 'deny', reason_code: 'header.bearer' })).not.toThrow();
    expect(seen).toMatchObject([{ hop: 'svc', event: 'verify', effect: 'deny', reason_code: 'header.bearer' }]);
  });
});

describe('stdoutLines: one writer per runtime', () => {
  it('Workers (and Node before a Node entry installs its writer): one console.log per line, at once, nothing queued', () => {
    const writes: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((text: string) => void writes.push(text));
    const before = stdoutWriter();
    useStdoutWriter(consoleLines);
    try {
      stdoutLines.write('{"a":1}');
      stdoutDecisions({ time: 't', hop: 'h', event: 'verify', effect: 'deny' });
      expect(writes).toEqual(['{"a":1}', '{"time":"t","hop":"h","event":"verify","effect":"deny"}']);
    } finally {
      useStdoutWriter(before);
    }
  });
});

describe('the default sinks: entries scrubbed and rendered when their batch is written, off the decision path', () => {
  it('V-11 emit stamps and queues; the line, rendered later, is scrubbed (the same line as rendered at once)', () => {
    const later: Array<() => string> = [];
    const lines: string[] = [];
    const before = stdoutWriter();
    useStdoutWriter({ write: (l) => void lines.push(l), writeLater: (r) => void later.push(r), flush() {}, drain: () => Promise.resolve() });
    try {
      const jwt = `${btoa('{"alg":"EdDSA"}')}.${btoa('{"sub":"alice"}')}.c2lnbmF0dXJl`;
      const now = () => new Date('2026-01-02T03:04:05Z');
      const draft = { event: 'verify', effect: 'deny', reason: `bad ${jwt}`, token: jwt };
      decisionLog({ hop: 'svc', sink: stdoutDecisions, now }).emit(draft);
      decisionLog({ hop: 'tts', sink: createDecisionLogger().sink, now }).emit(draft);
      expect(lines).toEqual([]);
      expect(later).toHaveLength(2);
      const want = { time: '2026-01-02T03:04:05.000Z', hop: 'svc', event: 'verify', effect: 'deny', reason: 'bad [redacted jwt]' };
      expect(later.map((r) => JSON.parse(r()))).toEqual([want, { ...want, hop: 'tts' }]);
      expect(later[0]!()).toBe(renderDecisionLine({ time: want.time, hop: 'svc', ...draft }));
    } finally {
      useStdoutWriter(before);
    }
  });
});

describe('decision lines rendered member by member: the same text as the scrubbed copy rendered whole', () => {
  const jwt = `${btoa('{"alg":"EdDSA"}')}.${btoa('{"sub":"alice"}')}.c2lnbmF0dXJl`;
  const entries: Array<Record<string, unknown>> = [
    { event: 'exchange', effect: 'grant', request_id: 'r-1', workload: 'agent', audience: 'https://api.example.com', requested: ['tickets:read', 'orders:read'], sub: 'u', chain: ['agent'], granted: ['tickets:read'], dropped: [{ scope: 'orders:read', reason: 'policy' }], txn: 't' },
    { event: 'exchange', effect: 'deny', error: 'invalid_grant', reason: `bad ${jwt}`, subject_token: jwt, requested: [jwt, 'x'.repeat(600), 'a\u2028b'], n: Number.NaN, big: 10n },
    { allowed: true, service: 'orders', actor: 'agent', when: new Date(0), list: Array.from({ length: 70 }, (_, i) => `s${i}`), holes: [, 'a'] },
    { effect: 'EFFECT_DENY', 5: 'index first', constructor: 'inherited name', toString: 'x', [jwt]: 'key redacted' },
    { time: '', hop: '', event: '', effect: '', workload: null, actor: 'a', nested: { token: jwt, deep: { a: [1, { b: 'c.d' }] } } },
    Object.fromEntries(Array.from({ length: 70 }, (_, i) => [`m${i}`, i])),
  ];
  it('V-11 createDecisionLogger: line(entry) is toJsonLine(normalize(entry)), and renderDecisionLine is toJsonLine(scrub(entry))', () => {
    const logger = createDecisionLogger({ hop: 'svc', now: () => new Date('2026-01-02T03:04:05Z') });
    for (const e of [...entries, scrub(entries[1]) as Record<string, unknown>]) {
      expect(logger.line(e)).toBe(toJsonLine(logger.normalize(e)));
      expect(renderDecisionLine(e)).toBe(toJsonLine(scrub(e)));
    }
    expect(JSON.parse(logger.line(entries[1]!))).toMatchObject({ hop: 'svc', event: 'exchange', effect: 'deny', reason: 'bad [redacted jwt]' });
    expect(logger.line(entries[1]!)).not.toContain(jwt);
    expect(logger.line(entries[1]!)).toContain('\\u2028');
  });
});

describe('issue 14: a decision line rendered from a copy neither frozen nor kept is the line scrub and toJsonLine render', () => {
  const jwt = `${btoa('{"alg":"EdDSA"}')}.${btoa('{"sub":"alice"}')}.c2lnbmF0dXJl`.replace(/=/g, '');
  const strings = fc.oneof(
    fc.string({ unit: 'grapheme', maxLength: 12 }),
    fc.constantFrom('', 'alice', 'resource.order.vdefault', '2026-12-01T15:56:59.125Z', jwt, `x ${jwt} y`, 'Bearer abcdefgh1234', 'a\u2028b', 'c\u0085d\u200e', '\ud800', 'x'.repeat(600), `${'y.'.repeat(300)}`, 'EFFECT_ALLOW'),
  );
  const keys = fc.oneof(
    fc.string({ maxLength: 6 }),
    fc.constantFrom('time', 'hop', 'event', 'effect', 'allowed', 'actor', 'workload', 'token', 'Authorization', 'client_secret', '__proto__', 'constructor', 'toString', 'toJSON', '0', '7', 'a.b', jwt, 'k'.repeat(600), 'a b', '\u2028'),
  );
  /** An object with these own members (a `__proto__` member as an own data member, as JSON.parse makes it). */
  const objectOf = (members: [string, unknown][]): Record<string, unknown> => {
    const o: Record<string, unknown> = {};
    for (const [k, v] of members) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
    return o;
  };
  const { value } = fc.letrec<{ value: unknown; object: Record<string, unknown>; list: unknown[] }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      strings,
      fc.constantFrom(0, -0, 1.5, 1e21, NaN, Infinity, -1, true, false, null, undefined, 10n, Symbol('s'), () => 1, new Date(0), new Map([[1, 2]])),
      tie('object'),
      tie('list'),
    ),
    object: fc.oneof(
      fc.array(fc.tuple(keys, tie('value')), { maxLength: 6 }).map(objectOf),
      fc.integer({ min: 60, max: 70 }).map((n) => objectOf(Array.from({ length: n }, (_, i) => [`m${i}`, i]))),
      tie('value').map((v) => scrub({ v }) as Record<string, unknown>),
      tie('value').map((v) => Object.assign(Object.create(null) as object, { v }) as Record<string, unknown>),
    ),
    list: fc.oneof(
      fc.array(tie('value'), { maxLength: 5 }),
      fc.integer({ min: 60, max: 70 }).map((n) => Array.from({ length: n }, (_, i) => i)),
      fc.constant([1, , 3] as unknown[]), // eslint-disable-line no-sparse-arrays
    ),
  }));
  /** Nested `depth` levels deep (the scrub's depth bound is 12). */
  const deep = (depth: number, leaf: unknown): unknown => (depth === 0 ? leaf : depth % 2 ? [deep(depth - 1, leaf)] : { d: deep(depth - 1, leaf) });

  it('for any entry: renderDecisionLine, and the logger\'s line of an entry in normal form or not', () => {
    const logger = createDecisionLogger({ hop: 'h', now: () => new Date(0) });
    const entries = fc.oneof(
      fc.array(fc.tuple(keys, value), { maxLength: 8 }).map(objectOf),
      fc.tuple(fc.constantFrom('2026-01-02T03:04:05.000Z', ''), strings, strings, fc.constantFrom('allow', 'deny', 'EFFECT_ALLOW', 'EFFECT_DENY', ''), fc.array(fc.tuple(keys, value), { maxLength: 8 }))
        .map(([time, hop, event, effect, rest]) => objectOf([['time', time], ['hop', hop], ['event', event], ['effect', effect], ...rest])),
      fc.tuple(fc.integer({ min: 10, max: 14 }), value).map(([d, leaf]) => ({ time: 't', hop: 'h', event: 'e', effect: 'allow', deep: deep(d, leaf) })),
    );
    // several seeds: seed 14 alone never met an own `__proto__` member whose value shadowed a later member (1, 3, 5,
    // 11, 12, 77 and 9001 did, and the copy threw `Cannot assign to read only property`)
    for (const seed of [14, 1, 3, 5, 11, 12, 77, 9001]) {
      fc.assert(
        fc.property(entries, (e) => {
          expect(renderDecisionLine(e)).toBe(toJsonLine(scrub(e)));
          expect(logger.line(e)).toBe(toJsonLine(logger.normalize(e)));
        }),
        { numRuns: 1500, seed },
      );
    }
  });

  it('for any draft: the line of an entry emit stamped, rendered from the draft, is the line of the stamped copy', () => {
    const logger = createDecisionLogger({ hop: 'h', now: () => new Date(0) });
    let checked = 0;
    const sink = renderLater(() => {}, (entry, time, hop, draft) => {
      expect(logger.stampedLine(entry, time, hop, draft)).toBe(logger.line(entry()));
      checked++;
    });
    const log = decisionLog({ hop: 'tts', sink, now: () => new Date('2026-12-01T23:04:05.678Z') });
    const drafts = fc.oneof(
      fc.array(fc.tuple(keys, value), { maxLength: 8 }).map(objectOf),
      fc.tuple(strings, fc.constantFrom('grant', 'deny', 'EFFECT_ALLOW', ''), fc.array(fc.tuple(keys, value), { maxLength: 8 }))
        .map(([event, effect, rest]) => objectOf([['event', event], ['effect', effect], ...rest])),
      // around MAX_LOG_MEMBERS with the two stamped members
      fc.integer({ min: 58, max: 66 }).map((n) => objectOf([['event', 'exchange'], ['effect', 'grant'], ...Array.from({ length: n }, (_, i): [string, unknown] => [`m${i}`, i])])),
    );
    for (const seed of [14, 1, 3, 5, 11, 12, 77, 9001]) {
      fc.assert(
        fc.property(drafts, (d) => log.emit(d as Parameters<typeof log.emit>[0])),
        { numRuns: 1500, seed },
      );
    }
    expect(checked).toBe(8 * 1500);
  });

  it('isoTime is toISOString for any date (the text of a second made once), and throws as it does on an invalid date', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: -8.64e15, max: 8.64e15 - 1 }), fc.integer({ min: 1.7e12, max: 1.8e12 }), fc.constantFrom(0, -1, 999, 1000, -1000, -1001, 253402300799999, 253402300800000, -62167219200001)), (t) => {
        expect(isoTime(new Date(t))).toBe(new Date(t).toISOString());
        expect(isoTime(new Date(t + 1))).toBe(new Date(t + 1).toISOString()); // the same second, mostly
      }),
      { numRuns: 5000, seed: 13 },
    );
    expect(() => isoTime(new Date(Number.NaN))).toThrow(RangeError);
  });

  it('an entry whose rendering throws loses its line only: never a throw into the decision, never the other lines', () => {
    const bad = { event: 'check', effect: 'deny' };
    Object.defineProperty(bad, 'attr', { enumerable: true, get: () => {
      throw new Error('getter');
    } });
    const records: unknown[] = [];
    const logger = createDecisionLogger({ hop: 'h', sink: (_l, r) => records.push(r) });
    expect(() => logger.log(bad)).not.toThrow();
    expect(() => decisionLog({ hop: 'h', sink: (e) => records.push(e) }).emit(bad)).not.toThrow();
    const lines: string[] = [];
    const before = stdoutWriter();
    useStdoutWriter(consoleLines);
    vi.spyOn(console, 'log').mockImplementation((text: string) => void lines.push(text));
    try {
      expect(() => decisionLog({ hop: 'h', sink: stdoutDecisions }).emit(bad)).not.toThrow();
      expect(() => decisionLog({ hop: 'h', sink: createDecisionLogger().sink }).emit(bad)).not.toThrow();
      decisionLog({ hop: 'h', sink: stdoutDecisions, now: () => new Date(0) }).emit({ event: 'check', effect: 'allow' });
    } finally {
      useStdoutWriter(before);
    }
    expect(records).toEqual([]);
    expect(lines).toEqual(['{"time":"1970-01-01T00:00:00.000Z","hop":"h","event":"check","effect":"allow"}']);
  });

  it('an own `__proto__` member (as JSON.parse makes it) is a member of the line, named as JSON names it; no prototype is set', () => {
    const logger = createDecisionLogger({ hop: 'h', now: () => new Date(0) });
    const parsed = JSON.parse('{"event":"check","effect":"deny","__proto__":{"admin":true,"effect":"allow"},"attr":{"__proto__":{"hop":"x"},"hop":"y"}}') as Record<string, unknown>;
    const wantText = '{"event":"check","effect":"deny","__proto__":{"admin":true,"effect":"allow"},"attr":{"__proto__":{"hop":"x"},"hop":"y"}}';
    expect(JSON.stringify(parsed)).toBe(wantText);
    const copy = scrub(parsed) as Record<string, unknown>;
    expect(toJsonLine(copy)).toBe(wantText);
    expect(renderDecisionLine(parsed)).toBe(wantText);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(copy.attr)).toBe(Object.prototype);
    expect((copy as { admin?: unknown }).admin).toBeUndefined();
    const line = logger.line(parsed);
    expect(line).toBe(toJsonLine(logger.normalize(parsed)));
    expect(JSON.parse(line)).toEqual(JSON.parse(JSON.stringify({ time: '1970-01-01T00:00:00.000Z', hop: 'h', ...JSON.parse(wantText) })));
    expect(line).toContain('"effect":"deny","__proto__":{"admin":true,"effect":"allow"}');
    expect(Object.getPrototypeOf(logger.normalize(parsed))).toBe(Object.prototype);
    expect(({} as { admin?: unknown }).admin).toBeUndefined(); // nothing reached Object.prototype
  });

  it('for(hop) stamps hop on a copy that keeps an own `__proto__` member (JSON.parse) as an own member, in place', () => {
    const lines: string[] = [];
    const logger = createDecisionLogger({ now: () => new Date(0), sink: (l) => void lines.push(l) });
    const parsed = JSON.parse('{"event":"check","effect":"deny","__proto__":{"admin":true,"effect":"allow"},"policy":"p"}') as Record<string, unknown>;
    let seen: unknown;
    const log = logger.log.bind(logger);
    logger.log = (e) => { seen = e; log(e); };
    logger.for('svc')(parsed);
    const copy = seen as Record<string, unknown>;
    expect(copy).not.toBe(parsed);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.keys(copy)).toEqual(['event', 'effect', '__proto__', 'policy', 'hop']);
    expect(Object.getOwnPropertyDescriptor(copy, '__proto__')).toEqual({ value: { admin: true, effect: 'allow' }, enumerable: true, writable: true, configurable: true });
    expect((copy as { admin?: unknown }).admin).toBeUndefined();
    expect(lines).toEqual(['{"time":"1970-01-01T00:00:00.000Z","hop":"svc","event":"check","effect":"deny","__proto__":{"admin":true,"effect":"allow"},"policy":"p"}']);
  });

});

describe('the redaction of JOSE-shaped runs, after the quick look for where one can start', () => {
  // the replacement alone, as scrub ran it before the look (JOSE_RUN, isCompactJose): the reference
  const run = /(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_.-]*/g;
  const joseHeader = (seg: string): boolean => {
    const part = seg.slice(0, 12);
    if (!/^[A-Za-z0-9_-]+$/.test(part)) return false;
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    try {
      return /^\s*\{/.test(atob(b64.slice(0, b64.length - (b64.length % 4))));
    } catch {
      return false;
    }
  };
  const reference = (s: string) => s.replace(run, (m) => (joseHeader(m.slice(0, m.indexOf('.'))) ? '[redacted jwt]' : m));
  // headers starting with `{` or a whitespace character: each first base64url character a header can start with
  const heads = ['', ' ', '\t', '\n', '\v', '\f', '\r', '\u00a0'].map((ws) => btoa(`${ws}{"alg":"EdDSA"}`).replace(/=+$/, ''));
  const pieces = fc.constantFrom(...heads, 'eyJ', 'e', 'o', 'I', 'C', 'D', 'x', 'ab', '0', '-', '_', '.', '..', ':', '/', '=', '"', 'T19:16:09', '2026-12-01', '123Z', 'c2ln');

  it('V-11 whatever the string, what is redacted is what the replacement alone redacts', () => {
    fc.assert(
      fc.property(fc.array(pieces, { maxLength: 12 }), (parts) => {
        const s = parts.join('');
        expect((scrub({ s }) as { s: string }).s).toBe(reference(s));
      }),
      { numRuns: 5000, seed: 13 },
    );
    for (const h of heads) expect(scrub({ s: `at ${h}.eyJzdWIiOiJhIn0.c2ln and 2026-12-01T19:16:09.123Z` })).toEqual({ s: 'at [redacted jwt] and 2026-12-01T19:16:09.123Z' });
  });
});
