/**
 * The decision point's configuration (`baton pdp --config FILE`, or the `pdp` section of the TTS configuration that
 * `baton serve` mounts). One zod schema; errors name the field.
 */
import * as z from 'zod';

const jwk = z.looseObject({ kty: z.string(), kid: z.string().optional() });
const jwks = z.object({ keys: z.array(jwk).min(1, 'at least one key') });
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });
const scopeList = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

/** The verifier of a `Txn-Token` header given instead of a principal (the settings of `createVerifier`). */
export const pdpTxnTokenSchema = z
  .strictObject({
    /** the trust domain(s) accepted as `aud` (default in `baton serve`: the TTS's) */
    trustDomains: z.array(z.string().min(1)).min(1).optional(),
    /** when set, `iss` must equal it (default in `baton serve`: the TTS's issuer) */
    issuer: z.string().min(1).optional(),
    /** the TTS's public keys inline, or its JWKS URL (default in `baton serve`: the TTS's own keys) */
    jwks: jwks.optional(),
    jwksUri: httpUrl.optional(),
    algorithms: z.array(z.string().min(1)).min(1).optional(),
    clockTolerance: z.number().int().min(0).max(60).optional(),
  })
  .refine((t) => !(t.jwks !== undefined && t.jwksUri !== undefined), { message: 'give jwks or jwksUri, not both', path: ['jwksUri'] });

/** One forward-auth route: the original request's method and path decide the resource and action. */
export const pdpRouteSchema = z.strictObject({
  /** an HTTP method, or `*` for any */
  method: z
    .string()
    .regex(/^(\*|[A-Za-z]+)$/, 'an HTTP method or *')
    .transform((m) => m.toUpperCase()),
  /** `/tickets/:id`: `:name` segments become `resource.attr.name` (`:id` also `resource.id`); a trailing `*` matches the rest */
  path: z.string().regex(/^\/[^?#\s]*$/, 'a path starting with / (no query, no spaces)'),
  kind: z.string().min(1),
  action: z.string().min(1),
  /** the token scope(s) the action needs */
  scope: scopeList.optional(),
});

export const pdpSchema = z.strictObject({
  /** `baton serve`: serve these routes beside the TTS's */
  mount: z.boolean().default(false),
  /** the policy directory (default in `baton serve`: the TTS's `policies`); on Workers the bundled policies */
  policies: z.string().optional(),
  /** this hop's name in the decision log */
  service: z.string().min(1).default('pdp'),
  defaultPolicyVersion: z.string().min(1).default('default'),
  lenientScopeSearch: z.boolean().default(false),
  /**
   * Cerbos's schema.enforcement: validate principal and resource attributes against the JSON schemas resource policies
   * name (files of the policy directory's `_schemas/`). none (default, as Cerbos), warn (errors reported in
   * validationErrors, decisions unchanged) or reject (errors reported, every action denied).
   */
  schemaEnforcement: z.enum(['none', 'warn', 'reject']).default('none'),
  /** Cerbos's engine.strictEvaluation: a condition that fails to evaluate decides (default false, as `cerbos server`) */
  strictEvaluation: z.boolean().default(false),
  globals: z.record(z.string(), z.unknown()).default({}),
  requestLimits: z
    .strictObject({
      maxActionsPerResource: z.number().int().min(1).max(500).default(50),
      maxResourcesPerRequest: z.number().int().min(1).max(500).default(50),
    })
    .default({ maxActionsPerResource: 50, maxResourcesPerRequest: 50 }),
  /** `auxData.jwt.token` of a request: verified with these keys, or (development only) decoded unverified */
  auxData: z
    .strictObject({
      jwt: z
        .strictObject({
          disableVerification: z.boolean().default(false),
          jwks: jwks.optional(),
          jwksUri: httpUrl.optional(),
          algorithms: z.array(z.string().min(1)).min(1).optional(),
        })
        .default({ disableVerification: false }),
    })
    .default({ jwt: { disableVerification: false } }),
  txnToken: pdpTxnTokenSchema.optional(),
  /** the token scope(s) each action needs when a Txn-Token is the principal: `{ ticket: { read: tickets:read } }`; `*` for any action */
  scopes: z.record(z.string(), z.record(z.string(), scopeList)).default({}),
  /** scope implications as at the TTS (default in `baton serve`: the TTS's) */
  scopeImplications: z.record(z.string(), z.array(z.string().min(1))).optional(),
  /** forward auth: the route table (an unknown route is denied) */
  routes: z.array(pdpRouteSchema).default([]),
});

/** The file `baton pdp --config FILE` reads: the decision point's settings and where it listens. */
export const pdpFileSchema = pdpSchema.extend({
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(3592),
});

export type PdpConfig = z.output<typeof pdpSchema>;
export type PdpFileConfig = z.output<typeof pdpFileSchema>;
export type PdpRouteConfig = z.output<typeof pdpRouteSchema>;
export type PdpTxnTokenConfig = z.output<typeof pdpTxnTokenSchema>;
