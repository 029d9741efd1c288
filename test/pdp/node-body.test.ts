// The Node fast path of `baton pdp` (src/pdp/node-http.node.ts) reads a POST body from the socket itself: a body that
// arrives in several chunks is read whole, an empty one is refused as Cerbos refuses bad JSON, and one over
// MAX_PDP_BODY_BYTES is refused with Cerbos's error shape whether its length was declared or not (chunked).
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PDP_BODY_BYTES } from '../../src/pdp/app.js';
import { POLICY_DIR } from '../helpers/world-verify.js';
import { startTestPdp, type TestPdp } from '../helpers/pdp.js';

let pdp: TestPdp;
beforeAll(async () => {
  pdp = await startTestPdp(POLICY_DIR);
});
afterAll(async () => pdp.close());

/** POSTs `parts` one write each (chunked unless `length` is given), with a pause between writes. */
function post(path: string, parts: readonly string[], length?: number): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { 'content-type': 'application/json' };
    if (length !== undefined) headers['content-length'] = length;
    const req = request(`${pdp.url}${path}`, { method: 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    const write = (i: number): void => {
      if (i === parts.length) {
        req.end();
        return;
      }
      req.write(parts[i]!);
      setTimeout(() => write(i + 1), 5);
    };
    write(0);
  });
}

const check = JSON.stringify({
  principal: { id: 'alice', roles: ['user'], attr: { workload: 'web-portal' } },
  resources: [{ resource: { kind: 'order', id: 'o-1', attr: { owner: 'alice', amount: 120 } }, actions: ['read', 'refund'] }],
});

describe('baton pdp reads request bodies itself (Node fast path)', () => {
  it('a body sent in several chunks is read whole, a multi-byte character split between them too', async () => {
    const body = check.replace('"o-1"', '"o-1é€"');
    const bytes = Buffer.from(body);
    const at = bytes.indexOf(Buffer.from('€')) + 1; // inside the three bytes of €
    // the raw bytes in three writes, the second ending inside €
    const r = await new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
      const req = request(`${pdp.url}/api/check/resources`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) as Record<string, unknown> }));
      });
      req.on('error', reject);
      req.write(bytes.subarray(0, 10));
      setTimeout(() => req.write(bytes.subarray(10, at)), 5);
      setTimeout(() => req.end(bytes.subarray(at)), 10);
    });
    expect(r.status).toBe(200);
    const results = r.body.results as { resource: { id: string }; actions: Record<string, string> }[];
    expect(results[0]!.resource.id).toBe('o-1é€');
    expect(results[0]!.actions).toEqual({ read: 'EFFECT_ALLOW', refund: 'EFFECT_DENY' });
  });

  it('the same body in one chunk gets the same answer', async () => {
    const one = await post('/api/check/resources', [check], Buffer.byteLength(check));
    const three = await post('/api/check/resources', [check.slice(0, 7), check.slice(7, 40), check.slice(40)]);
    expect(one.status).toBe(200);
    expect(three.status).toBe(200);
    expect(three.body.results).toEqual(one.body.results); // (each answer has its own cerbosCallId)
    expect((one.body.results as unknown[]).length).toBe(1);
  });

  it('an empty body is refused as bad input, not a 5xx', async () => {
    const r = await post('/api/check/resources', []);
    expect(r.status).toBe(400);
    expect(r.body.code).toBe(3);
  });

  it('a body declared over the limit is refused before it is read', async () => {
    const r = await post('/api/check/resources', ['{}'], MAX_PDP_BODY_BYTES + 1);
    expect(r.status).toBe(413);
    expect(r.body).toMatchObject({ code: 8, message: `request body exceeds ${MAX_PDP_BODY_BYTES} bytes` });
  });

  it('a chunked body that grows over the limit is refused once it does', async () => {
    // no content-length (chunked): the server reads it in many chunks and stops once past the limit
    const r = await post('/api/check/resources', [`{"a":"${'x'.repeat(MAX_PDP_BODY_BYTES + 1024)}"}`]);
    expect(r.status).toBe(413);
    expect(r.body).toMatchObject({ code: 8, message: `request body exceeds ${MAX_PDP_BODY_BYTES} bytes` });
  });
});
