// The one emitter and the non-blocking stdout sink of the decision log.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { consoleLines, createDecisionLogger, decisionLog, renderDecisionLine, scrub, stdoutDecisions, stdoutLines, stdoutWriter, toJsonLine, useStdoutWriter } from './index.js';

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
