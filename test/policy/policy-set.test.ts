// The compiled policy set's queries (src/policy/policy-set.ts): what the engine and the planner ask it, on a small
// store with scopes, versions, role policies with parent roles and principal policies.
import { describe, expect, it } from 'vitest';
import '../../src/policy/yaml.js';
import { compilePolicies } from '../../src/policy/compile.js';
import type { PolicySource } from '../../src/policy/types.js';

const resource = (kind: string, scope = '', version = 'default'): PolicySource => ({
  name: `resource_${kind}_${version}_${scope || 'root'}.yaml`,
  content: `apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: ${kind}
  version: ${version}
  scope: "${scope}"
  rules:
    - actions: ["read"]
      effect: EFFECT_ALLOW
      roles: ["user"]
`,
});
const role = (name: string, scope: string, parents: string[], resourceKind = 'ticket', version = 'default'): PolicySource => ({
  name: `role_${name}_${version}_${scope}.yaml`,
  content: `apiVersion: api.cerbos.dev/v1
rolePolicy:
  role: ${name}
  version: ${version}
  scope: "${scope}"
  parentRoles: [${parents.join(', ')}]
  rules:
    - resource: ${resourceKind}
      allowActions: ["read"]
`,
});
const principal = (id: string, scope = ''): PolicySource => ({
  name: `principal_${id}_${scope || 'root'}.yaml`,
  content: `apiVersion: api.cerbos.dev/v1
principalPolicy:
  principal: ${id}
  version: default
  scope: "${scope}"
  rules:
    - resource: ticket
      actions:
        - action: "*"
          effect: EFFECT_ALLOW
`,
});

const set = compilePolicies([
  resource('ticket'),
  resource('ticket', 'acme'),
  resource('ticket', 'acme.eu'),
  resource('ticket', '', 'v2'),
  resource('invoice'),
  role('auditor', 'acme', ['user']),
  role('auditor', 'acme', ['viewer'], 'ticket', 'v2'),
  role('clerk', 'acme.eu', ['user', 'auditor'], 'invoice'),
  principal('alice'),
  principal('alice', 'acme'),
  principal('bob', 'corp'),
  principal('bob'),
]);

describe('the compiled policy set answers the engine by query, never by index key', () => {
  it('counts and knows which families of policies exist', () => {
    expect(set.policyCount).toBe(12);
    expect(set.hasRolePolicies).toBe(true);
    expect(set.hasPrincipalPolicies).toBe(true);
    expect(set.sources.get('resource.ticket.vdefault/acme')).toBe('resource_ticket_default_acme.yaml');
    const plain = compilePolicies([resource('ticket')]);
    expect([plain.hasRolePolicies, plain.hasPrincipalPolicies]).toEqual([false, false]);
  });

  it('finds a policy at exactly its kind (or principal, or role), version and scope', () => {
    expect(set.resourcePolicy('ticket', 'default', 'acme')?.key).toBe('resource.ticket.vdefault/acme');
    expect(set.resourcePolicy('ticket', 'v2', '')?.key).toBe('resource.ticket.vv2');
    expect(set.resourcePolicy('ticket', 'v2', 'acme')).toBeUndefined();
    expect(set.resourcePolicy('invoice', 'default', 'acme')).toBeUndefined();
    expect(set.principalPolicy('alice', 'default', 'acme')?.key).toBe('principal.alice.vdefault/acme');
    expect(set.principalPolicy('alice', 'default', 'corp')).toBeUndefined();
    expect(set.rolePolicy('auditor', 'v2', 'acme')?.key).toBe('role.auditor.vv2/acme');
    expect(set.rolePolicy('auditor', 'default', 'acme.eu')).toBeUndefined();
    // names that would run together in a joined key stay apart
    expect(set.resourcePolicy('ticket\u0000default', '', 'acme')).toBeUndefined();
  });

  it('searches the scopes that exist store-wide, strictly or from the nearest existing ancestor', () => {
    // resource scopes: '', acme, acme.eu (role policies make scopes exist too)
    expect(set.resourceScopes('acme.eu', false)).toEqual(['acme.eu', 'acme', '']);
    expect(set.resourceScopes('acme.us', false)).toEqual([]);
    expect(set.resourceScopes('acme.us', true)).toEqual(['acme', '']);
    expect(set.resourceScopes('', false)).toEqual(['']);
    // principal scopes: '', acme, corp, whoever the principal
    expect(set.principalScopes('corp', false)).toEqual(['corp', '']);
    expect(set.principalScopes('acme.eu', false)).toEqual([]);
    expect(set.principalScopes('acme.eu', true)).toEqual(['acme', '']);
  });

  it('knows whether role policies at a version and scope have rules for a kind', () => {
    expect(set.hasRoleRulesFor('ticket', 'default', 'acme')).toBe(true);
    expect(set.hasRoleRulesFor('invoice', 'default', 'acme')).toBe(false);
    expect(set.hasRoleRulesFor('invoice', 'default', 'acme.eu')).toBe(true);
    expect(set.hasRoleRulesFor('ticket', 'v3', 'acme')).toBe(false);
  });

  it('gives the parent roles at exactly a scope, from role policies of every version, in load order', () => {
    expect(Object.fromEntries(set.parentRoles('acme'))).toEqual({ auditor: ['user', 'viewer'] });
    expect(Object.fromEntries(set.parentRoles('acme.eu'))).toEqual({ clerk: ['user', 'auditor'] });
    expect(set.parentRoles('').size).toBe(0);
    expect(set.parentRoles('nowhere').size).toBe(0);
  });
});
