// workerd refuses to start a main module that exports anything but handlers and classes ("Incorrect type for map
// entry"): wrangler dev/deploy would fail although a dry-run build succeeds. Pinned for both Workers of the repository.
import { describe, expect, it } from 'vitest';
import * as tts from '../../src/worker.js';
import * as orders from '../../examples/verifier-worker/src/index.js';

function offending(mod: Record<string, unknown>): string[] {
  return Object.entries(mod)
    .filter(([, v]) => !(typeof v === 'function' || (v !== null && typeof v === 'object' && typeof (v as { fetch?: unknown }).fetch === 'function')))
    .map(([k]) => k);
}

describe('main module exports', () => {
  it('the TTS Worker exports only handlers and classes, with the Durable Object class', () => {
    expect(offending(tts)).toEqual([]);
    expect(typeof tts.default.fetch).toBe('function');
    expect(typeof tts.BatonStoreDO).toBe('function');
  });

  it('the example verifier Worker exports only handlers and classes', () => {
    expect(offending(orders)).toEqual([]);
  });
});
