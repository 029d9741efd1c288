// zod schemas for Cerbos policy documents (api.cerbos.dev/v1). Unknown top-level keys are refused, like Cerbos.
import * as z from 'zod';

const name = z.string().min(1);
const effect = z.enum(['EFFECT_ALLOW', 'EFFECT_DENY']);
const scopePermissions = z.enum([
  'SCOPE_PERMISSIONS_UNSPECIFIED',
  'SCOPE_PERMISSIONS_OVERRIDE_PARENT',
  'SCOPE_PERMISSIONS_REQUIRE_PARENTAL_CONSENT_FOR_ALLOWS',
]);

type MatchNode = {
  expr?: string | undefined;
  all?: { of: MatchNode[] } | undefined;
  any?: { of: MatchNode[] } | undefined;
  none?: { of: MatchNode[] } | undefined;
};
export const MatchSchema: z.ZodType<MatchNode> = z.lazy(() =>
  z
    .strictObject({
      expr: z.string().min(1).optional(),
      all: z.strictObject({ of: z.array(MatchSchema).min(1) }).optional(),
      any: z.strictObject({ of: z.array(MatchSchema).min(1) }).optional(),
      none: z.strictObject({ of: z.array(MatchSchema).min(1) }).optional(),
    })
    .refine((m) => [m.expr, m.all, m.any, m.none].filter((x) => x !== undefined).length === 1, {
      message: 'exactly one of expr, all, any, none is required',
    }),
);
export const ConditionSchema = z.strictObject({ match: MatchSchema });

const OutputSchema = z.strictObject({
  expr: z.string().nullish(),
  when: z
    .strictObject({ ruleActivated: z.string().nullish(), conditionNotMet: z.string().nullish() })
    .nullish(),
});

const VariablesSchema = z.strictObject({
  import: z.array(name).optional(),
  local: z.record(z.string(), z.string()).optional(),
});
const ConstantsSchema = z.strictObject({
  import: z.array(name).optional(),
  local: z.record(z.string(), z.unknown()).optional(),
});

const SchemasSchema = z.object({}).passthrough();

const ResourceRuleSchema = z.strictObject({
  name: z.string().optional(),
  actions: z.array(name).min(1),
  effect,
  roles: z.array(name).optional(),
  derivedRoles: z.array(name).optional(),
  condition: ConditionSchema.optional(),
  output: OutputSchema.optional(),
});

export const ResourcePolicySchema = z.strictObject({
  resource: name,
  version: name,
  scope: z.string().optional(),
  scopePermissions: scopePermissions.optional(),
  importDerivedRoles: z.array(name).optional(),
  rules: z.array(ResourceRuleSchema).optional(),
  schemas: SchemasSchema.optional(),
  variables: VariablesSchema.optional(),
  constants: ConstantsSchema.optional(),
});

const PrincipalRuleSchema = z.strictObject({
  resource: name,
  actions: z
    .array(
      z.strictObject({
        action: name,
        effect,
        name: z.string().optional(),
        condition: ConditionSchema.optional(),
        output: OutputSchema.optional(),
      }),
    )
    .min(1),
});

export const PrincipalPolicySchema = z.strictObject({
  principal: name,
  version: name,
  scope: z.string().optional(),
  scopePermissions: scopePermissions.optional(),
  rules: z.array(PrincipalRuleSchema).optional(),
  variables: VariablesSchema.optional(),
  constants: ConstantsSchema.optional(),
});

export const DerivedRolesSchema = z.strictObject({
  name,
  definitions: z
    .array(
      z.strictObject({
        name: z.string().regex(/^[\w\-.:]+$/, 'invalid derived role name'),
        parentRoles: z.array(name).min(1),
        condition: ConditionSchema.optional(),
      }),
    )
    .min(1),
  variables: VariablesSchema.optional(),
  constants: ConstantsSchema.optional(),
});

export const ExportVariablesSchema = z.strictObject({ name, definitions: z.record(z.string(), z.string()) });
export const ExportConstantsSchema = z.strictObject({ name, definitions: z.record(z.string(), z.unknown()) });

export const RolePolicySchema = z.strictObject({
  role: name,
  version: z.string().optional(),
  scope: z.string().optional(),
  scopePermissions: scopePermissions.optional(),
  parentRoles: z.array(name).optional(),
  rules: z
    .array(
      z.strictObject({
        resource: name,
        name: z.string().optional(),
        allowActions: z.array(name).min(1),
        condition: ConditionSchema.optional(),
        output: OutputSchema.optional(),
      }),
    )
    .optional(),
  variables: VariablesSchema.optional(),
  constants: ConstantsSchema.optional(),
});

export const PolicyDocSchema = z
  .strictObject({
    apiVersion: z.literal('api.cerbos.dev/v1'),
    description: z.string().optional(),
    disabled: z.boolean().optional(),
    metadata: z.object({}).passthrough().optional(),
    variables: z.record(z.string(), z.string()).optional(),
    $schema: z.string().optional(),
    resourcePolicy: ResourcePolicySchema.optional(),
    principalPolicy: PrincipalPolicySchema.optional(),
    derivedRoles: DerivedRolesSchema.optional(),
    exportVariables: ExportVariablesSchema.optional(),
    exportConstants: ExportConstantsSchema.optional(),
    rolePolicy: RolePolicySchema.optional(),
  })
  .refine(
    (p) =>
      [p.resourcePolicy, p.principalPolicy, p.derivedRoles, p.exportVariables, p.exportConstants, p.rolePolicy].filter(
        (x) => x !== undefined,
      ).length === 1,
    {
      message:
        'exactly one of resourcePolicy, principalPolicy, derivedRoles, exportVariables, exportConstants, rolePolicy is required',
    },
  );

export type PolicyDoc = z.infer<typeof PolicyDocSchema>;
export type ResourcePolicyDoc = z.infer<typeof ResourcePolicySchema>;
export type PrincipalPolicyDoc = z.infer<typeof PrincipalPolicySchema>;
export type DerivedRolesDoc = z.infer<typeof DerivedRolesSchema>;
export type RolePolicyDoc = z.infer<typeof RolePolicySchema>;
export type ConditionDoc = z.infer<typeof ConditionSchema>;
export type OutputDoc = z.infer<typeof OutputSchema>;
export type VariablesDoc = z.infer<typeof VariablesSchema>;
export type ConstantsDoc = z.infer<typeof ConstantsSchema>;
export type EffectName = z.infer<typeof effect>;
export type ScopePermissions = z.infer<typeof scopePermissions>;
