// The official Cerbos client (@cerbos/http, pinned) against `baton pdp`, unchanged: checkResource, checkResources,
// isAllowed, planResources, serverInfo, checkHealth, and a refused request surfacing as the client's NotOK error.
import { fileURLToPath } from 'node:url';
import { HTTP } from '@cerbos/http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPdp, type TestPdp } from '../helpers/pdp.js';

const policies = fileURLToPath(new URL('../../policies/', import.meta.url));

describe('@cerbos/http against baton pdp (the example policies)', () => {
  let pdp: TestPdp;
  let cerbos: HTTP;
  beforeAll(async () => {
    pdp = await startTestPdp(policies);
    cerbos = new HTTP(pdp.url);
  });
  afterAll(async () => pdp?.close());

  const alice = { id: 'alice', roles: ['user'] };

  it('checkResource: the owner reads and comments on her ticket, may not close it', async () => {
    const d = await cerbos.checkResource({ principal: alice, resource: { kind: 'ticket', id: 't1', attr: { owner: 'alice' } }, actions: ['read', 'comment', 'close'] });
    expect(d.isAllowed('read')).toBe(true);
    expect(d.isAllowed('comment')).toBe(true);
    expect(d.isAllowed('close')).toBe(false);
  });

  it('checkResources with includeMeta: results per resource, the deciding policy and derived roles', async () => {
    const r = await cerbos.checkResources({
      principal: alice,
      resources: [
        { resource: { kind: 'ticket', id: 't1', attr: { owner: 'alice' } }, actions: ['read'] },
        { resource: { kind: 'ticket', id: 't2', attr: { owner: 'bob' } }, actions: ['read'] },
      ],
      includeMetadata: true,
      requestId: 'client-1',
    });
    expect(r.requestId).toBe('client-1');
    expect(r.isAllowed({ resource: { kind: 'ticket', id: 't1' }, action: 'read' })).toBe(true);
    expect(r.isAllowed({ resource: { kind: 'ticket', id: 't2' }, action: 'read' })).toBe(false);
    const mine = r.findResult({ kind: 'ticket', id: 't1' });
    expect(mine?.metadata?.effectiveDerivedRoles).toEqual(['owner']);
    expect(mine?.metadata?.actions['read']?.matchedPolicy).toBe('resource.ticket.vdefault');
    expect(r.cerbosCallId).toMatch(/^[0-9A-Z]{26}$/);
  });

  it('isAllowed: true and false', async () => {
    expect(await cerbos.isAllowed({ principal: alice, resource: { kind: 'ticket', id: 't1', attr: { owner: 'alice' } }, action: 'read' })).toBe(true);
    expect(await cerbos.isAllowed({ principal: alice, resource: { kind: 'order', id: 'o1', attr: { owner: 'bob' } }, action: 'read' })).toBe(false);
  });

  it('planResources: a conditional plan (owner == alice) and an always-allowed one', async () => {
    const plan = await cerbos.planResources({ principal: alice, resource: { kind: 'ticket' }, action: 'read', includeMetadata: true });
    // the client's enums are its own copy of @cerbos/core's (string valued): compared by value
    expect(plan.kind).toBe('KIND_CONDITIONAL');
    if (!('condition' in plan)) return;
    expect(JSON.stringify(plan.condition)).toContain('request.resource.attr.owner');
    expect(plan.metadata?.conditionString).toContain('alice');
    const lead = await cerbos.planResources({ principal: { id: 'dave', roles: ['support_lead'] }, resource: { kind: 'ticket' }, action: 'close' });
    expect(lead.kind).toBe('KIND_ALWAYS_ALLOWED');
  });

  it('serverInfo and checkHealth', async () => {
    expect((await cerbos.serverInfo()).version).toBe('0.55.0');
    expect((await cerbos.checkHealth()).status).toBe('SERVING');
  });

  it('a request Cerbos would refuse is refused the same way: NotOK, InvalidArgument, the violation named', async () => {
    const e = await cerbos.checkResource({ principal: { id: '', roles: ['user'] }, resource: { kind: 'ticket', id: 't1' }, actions: ['read'] }).catch((x: unknown) => x);
    expect((e as Error).name).toBe('NotOK');
    expect((e as { code: number }).code).toBe(3);
    expect((e as { details: string }).details).toContain('principal.id: value is required');
  });
});
