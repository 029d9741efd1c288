import * as z from 'zod';
import { ClaimPathError, parseClaimPath } from './claim-path.js';

/**
 * Configuration of subject issuers beyond keys and audiences (issue 17): claim mapping, required claim values,
 * RFC 7662 introspection of opaque tokens and discovery of issuer metadata. Kept apart from schema.ts so that the
 * subject-issuer schema there only lists the fields.
 */

/** One claim path (syntax in claim-path.ts), checked when the configuration is loaded. */
export const claimPath = z
  .string()
  .min(1)
  .superRefine((s, ctx) => {
    try {
      parseClaimPath(s);
    } catch (e) {
      if (!(e instanceof ClaimPathError)) throw e;
      ctx.addIssue({ code: 'custom', message: e.message });
    }
  });

/** One path or a list of paths. */
export const claimPaths = z.union([claimPath, z.array(claimPath).min(1, 'at least one claim path')]);

/**
 * A principal attribute: a claim path (the attribute is named by the path as written), or `{ claim, as }` with one
 * path or a list (the first present wins) and the attribute's name.
 */
export const principalAttribute = z.union([
  claimPath,
  z.strictObject({
    claim: claimPaths,
    /** the attribute's name in the principal (`P.attr.<as>`) and in `tctx.attr` */
    as: z.string().min(1),
  }),
]);

const scalar = z.union([z.string(), z.number(), z.boolean()]);

/** `{ path: value | [values] }`: the claim at path must be a string, number or boolean equal to one of them. */
export const requiredClaimValues = z.record(claimPath, z.union([scalar, z.array(scalar).min(1)]));

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });
const jwk = z.looseObject({ kty: z.string(), kid: z.string().optional() });

/** RFC 7662 token introspection for opaque subject tokens, per subject issuer. */
export const introspectionSchema = z
  .strictObject({
    /** the introspection endpoint; default: `introspection_endpoint` of the issuer's discovered metadata */
    endpoint: httpUrl.optional(),
    /** Baton's client id at the IdP (the introspecting client) */
    clientId: z.string().min(1),
    auth: z.enum(['client_secret_basic', 'client_secret_post', 'private_key_jwt']),
    /** for client_secret_basic / client_secret_post (use `${VAR}`) */
    secret: z.string().min(1).optional(),
    /** for private_key_jwt: the private JWK (an object, or its JSON in a string such as `${VAR}`) */
    privateJwk: z.union([jwk, z.string().min(1)]).optional(),
    /** the client assertion's `alg` (default from the key: EdDSA, ES256, RS256) */
    assertionAlg: z.enum(['EdDSA', 'Ed25519', 'ES256', 'ES384', 'PS256', 'RS256']).optional(),
    /** `aud` of the client assertion: the issuer identifier (rfc7523bis, oidc-provider, Keycloak) or the endpoint URL (Okta) */
    assertionAudience: z.enum(['issuer', 'endpoint']).default('issuer'),
    /** ask for an RFC 9701 JWT response and accept nothing else; its signature is checked with the issuer's keys */
    jwtResponse: z.boolean().default(false),
    /** upper bound of one introspection request, milliseconds */
    timeoutMs: z.number().int().positive().max(10_000).default(2_000),
    /** an active answer is reused at most this long (and never past the token's exp); 0 = never reused */
    cacheSeconds: z.number().int().min(0).max(300).default(30),
    /** an inactive answer is reused this long; 0 = never reused */
    negativeCacheSeconds: z.number().int().min(0).max(300).default(10),
    /** most answers kept (least recently used dropped first) */
    cacheMaxEntries: z.number().int().positive().max(1_000_000).default(10_000),
  })
  .superRefine((c, ctx) => {
    if (c.auth === 'private_key_jwt' && c.privateJwk === undefined)
      ctx.addIssue({ code: 'custom', message: 'private_key_jwt needs privateJwk', path: ['privateJwk'] });
    if (c.auth !== 'private_key_jwt' && c.secret === undefined)
      ctx.addIssue({ code: 'custom', message: `${c.auth} needs a secret`, path: ['secret'] });
    if (c.auth === 'private_key_jwt' && c.secret !== undefined)
      ctx.addIssue({ code: 'custom', message: 'private_key_jwt takes privateJwk, not a secret', path: ['secret'] });
    if (typeof c.privateJwk === 'string') {
      let v: unknown;
      try {
        v = JSON.parse(c.privateJwk);
      } catch {
        v = undefined;
      }
      if (!jwk.safeParse(v).success) ctx.addIssue({ code: 'custom', message: 'must be a JWK object or its JSON', path: ['privateJwk'] });
    }
  });

/** RFC 8414 / OpenID Connect discovery of the issuer's metadata (used when jwksUri or the introspection endpoint is not given). */
export const discoverySchema = z.strictObject({
  /** upper bound of one metadata request, milliseconds */
  timeoutMs: z.number().int().positive().max(10_000).default(3_000),
  /** metadata is fetched again after this long (the last good one is kept while a refresh fails) */
  refreshSeconds: z.number().int().min(60).max(86_400).default(3_600),
  /** after a failed discovery, the next attempt waits this long, doubling per failure up to retryMaxSeconds */
  retryMinSeconds: z.number().int().min(1).max(60).default(1),
  retryMaxSeconds: z.number().int().min(1).max(3_600).default(60),
});

export type IntrospectionConfig = z.output<typeof introspectionSchema>;
export type DiscoveryConfig = z.output<typeof discoverySchema>;
export type PrincipalAttributeConfig = z.output<typeof principalAttribute>;
export type RequiredClaimValues = z.output<typeof requiredClaimValues>;

/** Whether a subject issuer's metadata must be discovered (no key set given, or introspection without an endpoint). */
export function needsDiscovery(s: { jwks?: unknown; jwksUri?: unknown; introspection?: { endpoint?: unknown } | undefined }): boolean {
  return (s.jwks === undefined && s.jwksUri === undefined) || (s.introspection !== undefined && s.introspection.endpoint === undefined);
}
