// A request's JSON may carry a member named `__proto__` (JSON.parse makes it an own member like any other). The
// decision point must treat it as that: a member of the attributes, not their prototype (no inherited `acting_for` or
// `owner`, so the derived roles below are not granted), answer the request, and write its decision line.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDecisionLogger, memoryLines, stdoutWriter, useStdoutWriter, type LineWriter } from '../../src/log/index.js';
import { startPdp, type RunningPdp } from '../../src/node.js';
import { pdpFileSchema } from '../../src/config/pdp.js';
import { POLICY_DIR } from '../helpers/world-verify.js';

let pdp: RunningPdp;
let before: LineWriter;
const mem = memoryLines();

beforeAll(async () => {
  before = stdoutWriter();
  useStdoutWriter(mem);
  // the default logger (standard output, rendered by DecisionLogger.line), as `baton pdp` runs
  pdp = await startPdp({ config: pdpFileSchema.parse({ port: 0 }), policies: POLICY_DIR, onDecision: createDecisionLogger({ hop: 'pdp' }).sink, say: () => {} });
});
afterAll(async () => {
  await pdp?.close({ graceMs: 1000 });
  useStdoutWriter(before);
});

async function post(path: string, text: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(pdp.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('a request whose JSON carries "__proto__"', () => {
  it('Cerbos API: the attribute is a member named __proto__, nothing is inherited from it; the answer and the line are written', async () => {
    const ask = (attr: string, resourceAttr = '{"owner":"alice"}') =>
      `{"requestId":"p1","principal":{"id":"bob","roles":["support_agent","user"],"attr":${attr}},"resources":[{"resource":{"kind":"ticket","id":"t1","attr":${resourceAttr}},"actions":["read"]}]}`;
    const effectOf = (r: { body: Record<string, unknown> }) => ((r.body.results as Array<{ actions: Record<string, string> }>)[0]!.actions.read);
    // control: acting_for as a member grants agent_for_owner
    const member = await post('/api/check/resources', ask('{"acting_for":"alice"}'));
    expect(member.status).toBe(200);
    expect(effectOf(member)).toBe('EFFECT_ALLOW');
    mem.lines.length = 0;
    // the same inside a `__proto__` member: "acting_for" in P.attr is false (Cerbos: the map has one key, "__proto__")
    const proto = await post('/api/check/resources', ask('{"__proto__":{"acting_for":"alice","admin":true}}'));
    expect(proto.status).toBe(200);
    expect(effectOf(proto)).toBe('EFFECT_DENY');
    // the resource's owner inside `__proto__`: R.attr.owner is no member, bob is not its owner
    const owner = await post('/api/check/resources', ask('{}', '{"__proto__":{"owner":"bob"}}'));
    expect(owner.status).toBe(200);
    expect(effectOf(owner)).toBe('EFFECT_DENY');
    await new Promise((r) => setTimeout(r, 50));
    const lines = mem.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toMatchObject([
      { hop: 'pdp', event: 'check', effect: 'deny', api: 'cerbos', sub: 'bob', request_id: 'p1', resources: [{ kind: 'ticket', id: 't1', deny: ['read'] }] },
      { hop: 'pdp', event: 'check', effect: 'deny', sub: 'bob', resources: [{ kind: 'ticket', id: 't1', deny: ['read'] }] },
    ]);
    expect(({} as { admin?: unknown; owner?: unknown }).admin).toBeUndefined(); // Object.prototype untouched
    expect(({} as { owner?: unknown }).owner).toBeUndefined();
  });

  it('AuthZEN: a `__proto__` member of the subject\'s properties and of the context is answered and logged', async () => {
    mem.lines.length = 0;
    const r = await post('/access/v1/evaluation', '{"subject":{"type":"support_agent","id":"bob","properties":{"cerbos.roles":["support_agent"],"__proto__":{"acting_for":"alice"}}},"resource":{"type":"ticket","id":"t1","properties":{"owner":"alice"}},"action":{"name":"read"},"context":{"__proto__":{"cerbos.includeMeta":true}}}');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ decision: false });
    await new Promise((res) => setTimeout(res, 50));
    expect(mem.lines.map((l) => JSON.parse(l) as unknown)).toMatchObject([{ hop: 'pdp', event: 'evaluation', api: 'authzen', effect: 'deny', sub: 'bob', action: 'read', resource: { kind: 'ticket', id: 't1' } }]);
  });
});
