/**
 * authorize / requireAllowed (V-12) on their own, with policies written here (found by mutation testing,
 * docs/mutation.md): each field of the decision a service acts on (allowed, effect, the deciding policy and its scope,
 * the reason sentence, derived roles, rule and explanation only when asked), what reaches the engine (the token's
 * principal, auxData, the clock), the one decision entry each call writes and where it goes, and ForbiddenError.
 * Tokens are signed here with a key of the test's own, as the TTS signs them.
 */
import { importJWK, SignJWT, type JWK } from 'jose';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { generateSigningJwk, toPublicJwk } from '../../src/jose/keys.js';
import { createEngine, PlanError, type Engine } from '../../src/policy/index.js';
import { neededScopes } from '../../src/verify/authorize.js';
import { authorize, createVerifier, ForbiddenError, planFor, principalOf, requireAllowed, type ServiceDecisionEntry, type TxnContext } from '../../src/verify/index.js';
import { TRUST_DOMAIN } from '../helpers/names.js';
import '../../src/policy/yaml.js'; // the policies below are YAML text

const T0 = 1_800_000_000; // seconds: the verifiers here run on a fixed clock
const doc = (body: string) => ({ name: `${Math.random()}.yaml`, content: `apiVersion: api.cerbos.dev/v1\n${body}` });

// doc: owners read (derived role), users list, nobody deletes, a condition on auxData, one on the clock; a scoped
// policy for tenant acme that denies `archive` and allows `export`
const POLICIES = [
  doc(
    'derivedRoles:\n  name: doc_roles\n  definitions:\n    - name: owner\n      parentRoles: [user]\n      condition:\n        match:\n          expr: request.resource.attr.owner == request.principal.id\n' +
      '    - name: editor\n      parentRoles: [user]\n      condition:\n        match:\n          expr: request.principal.id in request.resource.attr.editors\n',
  ),
  doc(
    'resourcePolicy:\n  resource: doc\n  version: default\n  importDerivedRoles: [doc_roles]\n  rules:\n' +
      '    - name: owner-reads\n      actions: [read]\n      effect: EFFECT_ALLOW\n      derivedRoles: [owner]\n' +
      '    - name: editor-edits\n      actions: [edit]\n      effect: EFFECT_ALLOW\n      derivedRoles: [editor]\n' +
      '    - name: users-list\n      actions: [list]\n      effect: EFFECT_ALLOW\n      roles: [user]\n' +
      '    - name: nobody-deletes\n      actions: [delete]\n      effect: EFFECT_DENY\n      roles: ["*"]\n' +
      '    - name: tenant-from-aux\n      actions: [audit]\n      effect: EFFECT_ALLOW\n      roles: [user]\n      condition:\n        match:\n          expr: request.auxData.jwt.tenant == "acme"\n' +
      '    - name: before-2030\n      actions: [renew]\n      effect: EFFECT_ALLOW\n      roles: [user]\n      condition:\n        match:\n          expr: now() < timestamp("2030-01-01T00:00:00Z")\n' +
      '    - name: chain-attr\n      actions: [trace]\n      effect: EFFECT_ALLOW\n      roles: [user]\n      condition:\n        match:\n          expr: request.principal.attr.workload == "mcp" && request.principal.attr.tenant == "acme"\n',
  ),
  doc(
    'resourcePolicy:\n  resource: doc\n  version: default\n  scope: acme\n  rules:\n' +
      '    - name: no-archive\n      actions: [archive]\n      effect: EFFECT_DENY\n      roles: [user]\n' +
      '    - name: export\n      actions: [export]\n      effect: EFFECT_ALLOW\n      roles: [user]\n',
  ),
];

let signing: JWK;
let engine: Engine;
// the verified context, made inside the first test that needs it (not in beforeAll: Stryker counts code run in hooks
// as covered by every test, and then reruns the whole suite for each mutant of it)
let txn: TxnContext;
const logged: ServiceDecisionEntry[] = [];

async function token(claims: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ txn: 'txn-1', scope: 'docs:read docs:write', req_wl: 'mcp', act: { sub: 'mcp' }, tctx: { roles: ['user'], attr: { tenant: 'acme' } }, ...claims })
    .setProtectedHeader({ alg: 'EdDSA', kid: signing.kid!, typ: 'txntoken+jwt' })
    .setSubject('alice').setAudience(TRUST_DOMAIN).setIssuedAt(T0).setExpirationTime(T0 + 300)
    .sign(await importJWK(signing, 'EdDSA'));
}

beforeAll(async () => {
  signing = await generateSigningJwk('EdDSA');
  engine = createEngine({ policies: POLICIES });
});
beforeEach(async () => {
  if (txn !== undefined) return;
  const v = createVerifier({ trustDomain: TRUST_DOMAIN, jwks: { keys: [toPublicJwk(signing)] }, service: 'docs', onDecision: (e) => logged.push(e), now: () => T0 * 1000 });
  txn = await v.verify(await token());
});

const mine = { kind: 'doc', id: 'D-1', attr: { owner: 'alice' } };
const bobs = { kind: 'doc', id: 'D-2', attr: { owner: 'bob' } };
const invoice = { kind: 'invoice', id: 'I-1' };

function last(): ServiceDecisionEntry {
  return logged.at(-1)!;
}

describe('the decision', () => {
  it('allowed by a rule through a derived role: the policy, its scope, the reason naming the derived roles', () => {
    expect(authorize(txn, mine, 'read', { engine, scope: 'docs:read' })).toEqual({
      allowed: true,
      effect: 'EFFECT_ALLOW',
      policy: 'resource.doc.vdefault',
      scope: '',
      reason: 'allowed by resource.doc.vdefault (derived roles: owner)',
      derivedRoles: ['owner'],
    });
    // every derived role that applied is named, in the engine's order
    const shared = { kind: 'doc', id: 'D-4', attr: { owner: 'alice', editors: ['alice'] } };
    const both = authorize(txn, shared, 'edit', { engine });
    expect(both.derivedRoles.slice().sort()).toEqual(['editor', 'owner']);
    expect(both.reason).toBe(`allowed by resource.doc.vdefault (derived roles: ${both.derivedRoles.join(', ')})`);
    // a rule on a plain role: no derived roles, none named
    expect(authorize(txn, bobs, 'list', { engine })).toEqual({
      allowed: true,
      effect: 'EFFECT_ALLOW',
      policy: 'resource.doc.vdefault',
      scope: '',
      reason: 'allowed by resource.doc.vdefault',
      derivedRoles: [],
    });
  });

  it('denied by a rule: the deciding policy named; no rule at all: NO_MATCH, a default deny', () => {
    expect(authorize(txn, mine, 'delete', { engine })).toEqual({
      allowed: false,
      effect: 'EFFECT_DENY',
      policy: 'resource.doc.vdefault',
      scope: '',
      reason: 'denied by resource.doc.vdefault (derived roles: owner)',
      derivedRoles: ['owner'],
    });
    // the policy of the kind has no rule for it: that policy denies (implicitly)
    expect(authorize(txn, bobs, 'read', { engine })).toMatchObject({ allowed: false, effect: 'EFFECT_DENY', policy: 'resource.doc.vdefault', reason: 'denied by resource.doc.vdefault' });
    // a kind no policy knows
    expect(authorize(txn, invoice, 'read', { engine })).toEqual({
      allowed: false,
      effect: 'EFFECT_DENY',
      policy: 'NO_MATCH',
      scope: '',
      reason: 'no policy allows read on invoice (default deny)',
      derivedRoles: [],
    });
  });

  it('a scoped policy: the scope it decided in is reported, for an allow and for a deny', () => {
    const acme = { kind: 'doc', id: 'D-3', scope: 'acme', attr: { owner: 'bob' } };
    expect(authorize(txn, acme, 'export', { engine })).toMatchObject({ allowed: true, effect: 'EFFECT_ALLOW', policy: 'resource.doc.vdefault/acme', scope: 'acme' });
    expect(authorize(txn, acme, 'archive', { engine })).toMatchObject({ allowed: false, effect: 'EFFECT_DENY', policy: 'resource.doc.vdefault/acme', scope: 'acme' });
  });

  it('the token scope must cover every needed scope, given as a string or a list: else denied as `scope`, the engine not asked', () => {
    let asked = 0;
    const counting: Pick<Engine, 'check'> = { check: (i, o) => (asked++, engine.check(i, o)) };
    const scopeDenial = (missing: string) => ({ allowed: false, effect: 'EFFECT_DENY', policy: 'scope', scope: '', reason: `the token's scope does not cover ${missing}`, derivedRoles: [] });
    expect(authorize(txn, mine, 'read', { engine: counting, scope: 'docs:admin' })).toEqual(scopeDenial('docs:admin'));
    expect(authorize(txn, mine, 'read', { engine: counting, scope: ['docs:read', 'docs:admin', 'docs:more'] })).toEqual(scopeDenial('docs:admin'));
    expect(asked).toBe(0);
    expect(authorize(txn, mine, 'read', { engine: counting, scope: ['docs:read', 'docs:write'] }).allowed).toBe(true);
    expect(authorize(txn, mine, 'read', { engine: counting, scope: [] }).allowed).toBe(true);
    expect(asked).toBe(2);
    expect(neededScopes(undefined)).toEqual([]);
    expect(neededScopes('a')).toEqual(['a']);
    expect(neededScopes(['a', 'b'])).toEqual(['a', 'b']);
  });

  it('the engine sees the token principal (sub, tctx roles and attributes, workload and chain), auxData and the clock', () => {
    expect(principalOf(txn)).toEqual({ id: 'alice', roles: ['user'], attr: { tenant: 'acme', workload: 'mcp', chain: [] } });
    expect(authorize(txn, bobs, 'trace', { engine }).allowed).toBe(true);
    expect(authorize(txn, bobs, 'audit', { engine }).allowed).toBe(false);
    expect(authorize(txn, bobs, 'audit', { engine, auxData: { jwt: { tenant: 'acme' } } }).allowed).toBe(true);
    expect(authorize(txn, bobs, 'audit', { engine, auxData: { jwt: { tenant: 'other' } } }).allowed).toBe(false);
    expect(authorize(txn, bobs, 'renew', { engine, now: new Date('2029-12-31T23:59:59Z') }).allowed).toBe(true);
    expect(authorize(txn, bobs, 'renew', { engine, now: new Date('2030-01-01T00:00:01Z') }).allowed).toBe(false);
  });

  it('rule and explanation only with explain: true', () => {
    const plain = authorize(txn, mine, 'read', { engine, explain: false });
    expect(plain).not.toHaveProperty('rule');
    expect(plain).not.toHaveProperty('explanation');
    const d = authorize(txn, mine, 'read', { engine, explain: true });
    expect(d.rule).toBe('resource.doc.vdefault#owner-reads');
    expect(d.explanation?.actions.read?.rule).toBe('resource.doc.vdefault#owner-reads');
  });

  it('an engine that throws denies (fail closed), as policy `error`', () => {
    const broken: Pick<Engine, 'check'> = {
      check: () => {
        throw new Error('boom');
      },
    };
    expect(authorize(txn, mine, 'read', { engine: broken, scope: 'docs:read' })).toEqual({
      allowed: false,
      effect: 'EFFECT_DENY',
      policy: 'error',
      scope: '',
      reason: 'the policy engine could not decide (denied)',
      derivedRoles: [],
    });
  });
});

describe('the decision entry (one per call)', () => {
  it('an allow: who, the chain, the action, the resource, the needed scopes joined, the policy and the reason', () => {
    logged.length = 0;
    authorize(txn, mine, 'read', { engine, scope: ['docs:read', 'docs:write'] });
    expect(logged).toHaveLength(1);
    const e = last();
    expect(e).toMatchObject({
      hop: 'docs',
      event: 'authorize',
      effect: 'allow',
      txn: 'txn-1',
      sub: 'alice',
      workload: 'mcp',
      chain: ['mcp'],
      action: 'read',
      resource: { kind: 'doc', id: 'D-1' },
      scope: 'docs:read docs:write',
      policy: 'resource.doc.vdefault',
      reason: 'allowed by resource.doc.vdefault (derived roles: owner)',
    });
    expect(e).not.toHaveProperty('trace_id'); // no tracing SDK registered
    expect(e.time).toBe(new Date(T0 * 1000).toISOString());
  });

  it('a deny names the missing scope, not the needed ones; with no scope needed there is no scope field', () => {
    authorize(txn, mine, 'read', { engine, scope: ['docs:read', 'docs:admin'] });
    expect(last()).toMatchObject({ effect: 'deny', scope: 'docs:admin', policy: 'scope', reason: "the token's scope does not cover docs:admin" });
    authorize(txn, invoice, 'read', { engine });
    expect(last()).toMatchObject({ effect: 'deny', policy: 'NO_MATCH', resource: { kind: 'invoice', id: 'I-1' } });
    expect(last()).not.toHaveProperty('scope');
    authorize(txn, invoice, 'read', { engine, scope: [] });
    expect(last()).not.toHaveProperty('scope');
  });

  it("goes to the verifier's log, or to onDecision / service when the options name them", () => {
    const mineLog: ServiceDecisionEntry[] = [];
    const before = logged.length;
    authorize(txn, mine, 'read', { engine, onDecision: (e) => mineLog.push(e) });
    expect(logged).toHaveLength(before);
    expect(mineLog).toHaveLength(1);
    expect(mineLog[0]).toMatchObject({ hop: 'docs', event: 'authorize', effect: 'allow' }); // the verifier's hop name kept
    expect(mineLog[0]!.time).toBe(new Date(T0 * 1000).toISOString()); // and its clock
    authorize(txn, mine, 'read', { engine, service: 'docs-admin' });
    expect(logged).toHaveLength(before + 1);
    expect(last()).toMatchObject({ hop: 'docs-admin', event: 'authorize' });
    authorize(txn, mine, 'read', { engine, service: 'docs-admin', onDecision: (e) => mineLog.push(e) });
    expect(logged).toHaveLength(before + 1);
    expect(mineLog.at(-1)).toMatchObject({ hop: 'docs-admin' });
  });
});

describe('requireAllowed', () => {
  it('returns the decision when allowed; throws ForbiddenError (403, forbidden, the decision and its reason) when denied', () => {
    expect(requireAllowed(txn, mine, 'read', { engine, scope: 'docs:read' })).toMatchObject({ allowed: true, policy: 'resource.doc.vdefault' });
    let caught: unknown;
    try {
      requireAllowed(txn, invoice, 'read', { engine });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ForbiddenError);
    const f = caught as ForbiddenError;
    expect({ name: f.name, code: f.code, status: f.status, message: f.message }).toEqual({
      name: 'ForbiddenError',
      code: 'forbidden',
      status: 403,
      message: 'no policy allows read on invoice (default deny)',
    });
    expect(f.decision).toMatchObject({ allowed: false, policy: 'NO_MATCH' });
  });
});

describe('planFor (V-12 for lists) with these policies', () => {
  it('ALWAYS_ALLOWED, ALWAYS_DENIED by a rule, NO_MATCH, CONDITIONAL: the reason, the effect and the policy logged for each', () => {
    logged.length = 0;
    const list = planFor(txn, 'doc', 'list', { engine, scope: 'docs:read' });
    expect(list).toMatchObject({ basis: 'policy', filter: { kind: 'KIND_ALWAYS_ALLOWED' }, reason: 'every doc allows list' });
    expect(last()).toMatchObject({ event: 'plan', effect: 'allow', policy: 'plan', scope: 'docs:read', reason: 'every doc allows list', plan: { kind: 'KIND_ALWAYS_ALLOWED' } });
    const del = planFor(txn, 'doc', 'delete', { engine });
    expect(del).toMatchObject({ basis: 'policy', filter: { kind: 'KIND_ALWAYS_DENIED' }, reason: 'no doc allows delete' });
    expect(last()).toMatchObject({ effect: 'deny', policy: 'plan', reason: 'no doc allows delete' });
    expect(last()).not.toHaveProperty('scope');
    const none = planFor(txn, 'invoice', 'read', { engine });
    expect(none).toMatchObject({ basis: 'policy', filter: { kind: 'KIND_ALWAYS_DENIED' }, filterDebug: 'NO_MATCH', reason: 'no policy allows read on invoice (default deny)' });
    expect(last()).toMatchObject({ effect: 'deny', policy: 'NO_MATCH', resource: { kind: 'invoice' } });
    const read = planFor(txn, 'doc', 'read', { engine });
    expect(read.filter.kind).toBe('KIND_CONDITIONAL');
    expect(read.reason).toBe(`the doc records where ${read.filterDebug} hold`);
    expect(last()).toMatchObject({ effect: 'conditional', policy: 'plan' });
    expect(logged).toHaveLength(4);
    // the entry names the chain; the needed scopes joined, or only the missing one when the token lacks it
    planFor(txn, 'doc', 'list', { engine, scope: ['docs:read', 'docs:write'] });
    expect(last()).toMatchObject({ chain: ['mcp'], scope: 'docs:read docs:write', policy: 'plan' });
    planFor(txn, 'doc', 'list', { engine, scope: ['docs:read', 'docs:admin'] });
    expect(last()).toMatchObject({ chain: ['mcp'], scope: 'docs:admin', policy: 'scope', effect: 'deny' });
  });

  it('the engine plans with auxData, the clock and the shared resource fields given', () => {
    expect(planFor(txn, 'doc', 'audit', { engine }).filter.kind).toBe('KIND_ALWAYS_DENIED');
    expect(planFor(txn, 'doc', 'audit', { engine, auxData: { jwt: { tenant: 'acme' } } }).filter.kind).toBe('KIND_ALWAYS_ALLOWED');
    expect(planFor(txn, 'doc', 'renew', { engine, now: new Date('2029-12-31T23:59:59Z') }).filter.kind).toBe('KIND_ALWAYS_ALLOWED');
    expect(planFor(txn, 'doc', 'renew', { engine, now: new Date('2030-01-01T00:00:01Z') }).filter.kind).toBe('KIND_ALWAYS_DENIED');
    expect(planFor(txn, 'doc', 'export', { engine, resource: { scope: 'acme' } }).filter.kind).toBe('KIND_ALWAYS_ALLOWED');
    expect(planFor(txn, 'doc', 'export', { engine }).filter.kind).toBe('KIND_ALWAYS_DENIED');
  });

  it('refused without the engine (scope) or by an engine that cannot plan: ALWAYS_DENIED with the query\'s kind, version and scope', () => {
    const denied = planFor(txn, 'doc', 'read', { engine, scope: 'docs:admin', resource: { policyVersion: 'v2', scope: 'acme' } });
    expect(denied).toEqual({
      kind: 'doc',
      policyVersion: 'v2',
      scope: 'acme',
      actions: ['read'],
      filter: { kind: 'KIND_ALWAYS_DENIED' },
      filterDebug: '(false)',
      matchedScopes: {},
      rules: [],
      validationErrors: [],
      basis: 'scope',
      reason: "the token's scope does not cover docs:admin",
    });
    const throwing = (e: unknown): Pick<Engine, 'plan'> => ({
      plan: () => {
        throw e;
      },
    });
    expect(planFor(txn, 'doc', 'read', { engine: throwing(new Error('boom')) })).toMatchObject({ kind: 'doc', policyVersion: '', scope: '', basis: 'error', reason: 'the policy engine could not plan (denied)' });
    expect(last()).toMatchObject({ effect: 'deny', policy: 'error', reason: 'the policy engine could not plan (denied)' });
    expect(planFor(txn, 'doc', 'read', { engine: throwing(new PlanError('no plan for this', 'x.y()')) }).reason).toBe('the policy engine could not plan (no plan for this)');
    expect(planFor(txn, 'doc', 'read', { engine: throwing(null) }).reason).toBe('the policy engine could not plan (denied)');
    expect(planFor(txn, 'doc', 'read', { engine: throwing(undefined) }).reason).toBe('the policy engine could not plan (denied)');
    expect(planFor(txn, 'doc', 'read', { engine: throwing('plan_failed') }).reason).toBe('the policy engine could not plan (denied)');
  });
});

describe('the verified context', () => {
  it('its scope set cannot be changed (it is shared by every request presenting the token)', () => {
    expect(() => (txn.scope as Set<string>).add('docs:admin')).toThrow(TypeError);
    expect(() => (txn.scope as Set<string>).delete('docs:read')).toThrow(TypeError);
    expect(() => (txn.scope as Set<string>).clear()).toThrow(TypeError);
    expect([...txn.scope]).toEqual(['docs:read', 'docs:write']);
  });

  it('it is frozen through and through, the principal included (one context serves every request with the token)', () => {
    expect(Object.isFrozen(txn)).toBe(true);
    expect(Object.isFrozen(txn.claims)).toBe(true);
    expect(Object.isFrozen(txn.claims.tctx)).toBe(true);
    expect(Object.isFrozen(txn.principal)).toBe(true);
    expect(Object.isFrozen(txn.principal.roles)).toBe(true);
    expect(Object.isFrozen(txn.principal.attr)).toBe(true);
    expect(() => {
      (txn.principal.attr as Record<string, unknown>).tenant = 'evil';
    }).toThrow(TypeError);
    expect(() => (txn.principal.roles as string[]).push('admin')).toThrow(TypeError);
    expect(principalOf(txn)).toEqual({ id: 'alice', roles: ['user'], attr: { tenant: 'acme', workload: 'mcp', chain: [] } });
  });

  it('its scope set holds each scope of the claim once, blanks skipped; tctx and rctx are objects', async () => {
    const v = createVerifier({ trustDomain: TRUST_DOMAIN, jwks: { keys: [toPublicJwk(signing)] }, onDecision: null, now: () => T0 * 1000 });
    const odd = await v.verify(await token({ scope: ' docs:read  docs:write docs:read ' }));
    expect([...odd.scope]).toEqual(['docs:read', 'docs:write']);
    expect(odd.scope.has('')).toBe(false);
    // tctx and rctx: the token's objects, or empty ones when the token has none (a service reads them without checks)
    expect(odd.tctx).toEqual({ roles: ['user'], attr: { tenant: 'acme' } });
    expect(odd.rctx).toEqual({});
    const bare = await v.verify(await token({ tctx: undefined, rctx: { req_ip: '192.0.2.1' } }));
    expect(bare.tctx).toEqual({});
    expect(bare.rctx).toEqual({ req_ip: '192.0.2.1' });
    // the empty stand-in is frozen too: a handler writing into it must not be seen by the next request with the token
    expect(Object.isFrozen(bare.tctx)).toBe(true);
    expect(() => {
      (bare.tctx as Record<string, unknown>).tenant = 'evil';
    }).toThrow(TypeError);
    const again = await v.verify(await token({ tctx: undefined, rctx: undefined }));
    expect(Object.isFrozen(again.rctx)).toBe(true);
    expect(again.tctx).toEqual({});
    await v.close();
  });
});
