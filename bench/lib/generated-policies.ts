// The generated policy set of the policy and plan benchmarks: 100 resource kinds, 10 rules each (1,000 rules), with
// derived roles and CEL conditions.
import type { PolicySource } from '../../src/policy/types.js';

export const KINDS = 100;
export const kind = (i: number) => `kind_${String(i).padStart(3, '0')}`;

export function generatedPolicies(): PolicySource[] {
  const out: PolicySource[] = [
    {
      name: 'derived_roles/gen.yaml',
      content: `apiVersion: api.cerbos.dev/v1
derivedRoles:
  name: gen_roles
  definitions:
    - name: owner
      parentRoles: ["member"]
      condition:
        match:
          expr: R.attr.owner == P.id
    - name: same_dept
      parentRoles: ["member", "manager"]
      condition:
        match:
          expr: R.attr.department == P.attr.department
    - name: approver
      parentRoles: ["manager"]
      condition:
        match:
          all:
            of:
              - expr: P.attr.level >= 3
              - expr: R.attr.amount < 10000
    - name: any_reader
      parentRoles: ["viewer"]
`,
    },
  ];
  for (let k = 0; k < KINDS; k++) {
    out.push({
      name: `resources/${kind(k)}.yaml`,
      content: `apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: ${kind(k)}
  version: default
  importDerivedRoles: [gen_roles]
  rules:
    - { name: r0, actions: ["*"], effect: EFFECT_ALLOW, roles: ["admin"] }
    - { name: r1, actions: ["act_1"], effect: EFFECT_ALLOW, roles: ["viewer"] }
    - name: r2
      actions: ["act_2"]
      effect: EFFECT_ALLOW
      derivedRoles: ["owner"]
      condition: { match: { expr: R.attr.status != "archived" } }
    - { name: r3, actions: ["act_3"], effect: EFFECT_ALLOW, derivedRoles: ["same_dept"] }
    - { name: r4, actions: ["act_4"], effect: EFFECT_ALLOW, derivedRoles: ["approver"] }
    - name: r5
      actions: ["act_5"]
      effect: EFFECT_ALLOW
      roles: ["manager"]
      condition: { match: { expr: R.attr.status == "open" } }
    - name: r6
      actions: ["act_6"]
      effect: EFFECT_ALLOW
      roles: ["member"]
      condition: { match: { expr: '"tag_${k % 7}" in R.attr.tags' } }
    - { name: r7, actions: ["act_7"], effect: EFFECT_ALLOW, roles: ["auditor"] }
    - name: r8
      actions: ["act_8"]
      effect: EFFECT_DENY
      roles: ["*"]
      condition: { match: { expr: R.attr.status == "locked" } }
    - { name: r9, actions: ["act_9"], effect: EFFECT_ALLOW, derivedRoles: ["owner", "any_reader"] }
`,
    });
  }
  return out;
}
