import { expect } from 'vitest';

/** A fail-closed answer: 503 temporarily_unavailable (RFC 6749 §5.2 body), nothing the caller sent echoed; returns the reason. */
export function expectUnavailable(r: { response: Response; text: string }, secrets: readonly string[] = []): string {
  expect(r.response.status, r.text).toBe(503);
  expect(r.response.headers.get('content-type')).toMatch(/^application\/json/);
  const body = JSON.parse(r.text) as { error?: unknown; error_description?: unknown };
  expect(body.error).toBe('temporarily_unavailable');
  for (const s of secrets) expect(r.text.includes(s), 'the response echoes something the caller sent').toBe(false);
  expect(typeof body.error_description).toBe('string');
  return body.error_description as string;
}
