import * as z from 'zod';
import { pdpSchema } from './pdp.js';
import { claimPaths, discoverySchema, introspectionSchema, needsDiscovery, principalAttribute, requiredClaimValues } from './idp.js';

/** Algorithms Baton accepts for asymmetric signatures. HMAC and `none` are never accepted anywhere. */
export const ASYMMETRIC_ALGS = ['EdDSA', 'Ed25519', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512'] as const;
const alg = z.enum(ASYMMETRIC_ALGS);

const jwk = z.looseObject({ kty: z.string(), kid: z.string().optional() });
const jwks = z.object({ keys: z.array(jwk).min(1, 'at least one key') });
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });

export const subjectIssuerSchema = z
  .strictObject({
    issuer: z.string().min(1),
    jwks: jwks.optional(),
    jwksUri: httpUrl.optional(),
    /** audiences this TTS accepts for the issuer's tokens; a token must carry at least one of them */
    audiences: z.array(z.string().min(1)).min(1),
    algorithms: z.array(alg).min(1).default(['RS256', 'PS256', 'ES256', 'EdDSA']),
    /** accepted JWS `typ` values for access tokens (RFC 9068 fixes `at+jwt`); `null`: no typ header (Okta) */
    typ: z.array(z.union([z.string().min(1), z.null()])).min(1).default(['at+jwt', 'application/at+jwt']),
    /** claim path(s) holding the scope (string or array); one path: `scp` is read too when it is absent; a list: the first present */
    scopeClaim: claimPaths.default('scope'),
    /** claim path(s) holding roles (string or array); a list: the union of all present */
    rolesClaim: claimPaths.optional(),
    /** roles given when the token has no roles claim (policies need at least one role) */
    defaultRoles: z.array(z.string().min(1)).min(1).default(['user']),
    /** claims copied into the principal's attributes (and into `tctx.attr` of the Txn-Token): paths, or { claim, as } */
    principalAttributes: z.array(principalAttribute).default([]),
    /** the issuer's tokens are also accepted as ID tokens (subject_token_type id_token) */
    idTokenAudiences: z.array(z.string().min(1)).default([]),
    /** scopes an ID token of this issuer grants (ID tokens carry none: a configured trusted source, T-13) */
    idTokenScopes: z.array(z.string().min(1)).default([]),
    // issue 17: where the principal comes from, claims the token must carry, opaque tokens, discovery (see ./idp.ts)
    /** claim path(s) of the principal id (a list: the first present string) */
    subjectClaim: claimPaths.default('sub'),
    /** claims the token must carry with one of the given values, e.g. `{ hd: example.com }`, `{ typ: Bearer }` */
    requiredClaimValues: requiredClaimValues.optional(),
    /** `{client}` in claim paths: the IdP's client id for a Baton client id (default: the Baton client id itself) */
    clientIds: z.record(z.string().min(1), z.string().min(1)).default({}),
    /** RFC 7662 introspection of opaque subject tokens of this issuer */
    introspection: introspectionSchema.optional(),
    /** discovery of the issuer's metadata (when jwks/jwksUri or introspection.endpoint are not given) */
    discovery: discoverySchema.default({ timeoutMs: 3_000, refreshSeconds: 3_600, retryMinSeconds: 1, retryMaxSeconds: 60 }),
  })
  .superRefine((s, ctx) => {
    if (s.jwks !== undefined && s.jwksUri !== undefined)
      ctx.addIssue({ code: 'custom', message: 'give jwks or jwksUri, not both', path: ['jwksUri'] });
    if (needsDiscovery(s) && !httpUrl.safeParse(s.issuer).success)
      ctx.addIssue({ code: 'custom', message: 'give jwks or jwksUri (and introspection.endpoint), or an http(s) issuer whose metadata can be discovered', path: ['jwks'] });
  });

const rateLimit = z.strictObject({
  /** exchanges per window for this workload, all subjects together */
  perClient: z.number().int().positive(),
  /** exchanges per window for one (workload, subject) pair */
  perSubject: z.number().int().positive(),
  windowSeconds: z.number().int().positive().max(3600),
});

export const clientSchema = z
  .strictObject({
    id: z.string().min(1).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces'),
    auth: z.enum(['private_key_jwt', 'client_secret_basic', 'client_secret_post']),
    jwks: jwks.optional(),
    jwksUri: httpUrl.optional(),
    /** plain secret, or its SHA-256 as `sha256:<base64url>` (for high-entropy generated secrets) */
    secret: z.string().min(8, 'at least 8 characters').optional(),
    /** the ceiling: the most this workload can ever be granted */
    scopes: z.array(z.string().min(1)).min(1),
    /** subject-token audiences this workload may exchange (T-11) */
    subjectAudiences: z.array(z.string().min(1)).default([]),
    allowUnsignedSubject: z.boolean().default(false),
    /**
     * T-10: may present self-signed subjects (`…:self_signed`, signed with this workload's own key). Off by default:
     * the signature proves only what client authentication already proved, i.e. who the workload is, not who the user is.
     */
    allowSelfSignedSubject: z.boolean().default(false),
    /**
     * How a subject this workload asserts itself (self_signed, unsigned_json) is read (T-10). Its roles become the
     * principal's roles only from `rolesClaim` when set (default: asserted roles are ignored, `defaultRoles` apply),
     * and only the claims in `principalAttributes` become principal attributes (default none).
     */
    assertedSubject: z
      .strictObject({
        rolesClaim: z.string().min(1).optional(),
        defaultRoles: z.array(z.string().min(1)).min(1).default(['user']),
        principalAttributes: z.array(z.string().min(1)).default([]),
      })
      .default({ defaultRoles: ['user'], principalAttributes: [] }),
    /** may revoke a transaction by its `txn` id (otherwise only by presenting the token) */
    revokeById: z.boolean().default(false),
    rateLimit: rateLimit.optional(),
  })
  .superRefine((c, ctx) => {
    if (c.auth === 'private_key_jwt' && c.jwks === undefined && c.jwksUri === undefined)
      ctx.addIssue({ code: 'custom', message: 'private_key_jwt needs jwks or jwksUri', path: ['jwks'] });
    if (c.auth !== 'private_key_jwt' && c.secret === undefined)
      ctx.addIssue({ code: 'custom', message: `${c.auth} needs a secret`, path: ['secret'] });
    if (c.jwks !== undefined && c.jwksUri !== undefined)
      ctx.addIssue({ code: 'custom', message: 'give jwks or jwksUri, not both', path: ['jwksUri'] });
    if (c.allowSelfSignedSubject && c.jwks === undefined && c.jwksUri === undefined)
      ctx.addIssue({ code: 'custom', message: 'allowSelfSignedSubject needs the workload keys (jwks or jwksUri) that sign its subjects', path: ['allowSelfSignedSubject'] });
  });

const hostPort = z.strictObject({ host: z.string().min(1), port: z.number().int().min(1).max(65535) });
/** The object form of `store`: exactly what `createStore` (src/store/from-url.node.ts, `RedisStoreOptions`) accepts. */
const redisOptions = z
  .strictObject({
    url: z.string().regex(/^rediss?:\/\//, 'must start with redis:// or rediss://').optional(),
    /** passed through to ioredis (username, password, db, tls, ...); timeouts and retries are Baton's own below */
    redis: z
      .looseObject({
        username: z.string().optional(),
        password: z.string().optional(),
        db: z.number().int().min(0).optional(),
        tls: z.record(z.string(), z.unknown()).optional(),
      })
      .optional(),
    keyPrefix: z.string().default('baton:'),
    /** Sentinel: sentinel addresses and the master group `name` */
    sentinels: z.array(hostPort).min(1).optional(),
    name: z.string().min(1).optional(),
    /** Cluster: startup nodes (`clusterOptions` passed through to ioredis) */
    cluster: z.array(hostPort).min(1).optional(),
    clusterOptions: z.record(z.string(), z.unknown()).optional(),
    connectTimeoutMs: z.number().int().positive().default(1000),
    commandTimeoutMs: z.number().int().positive().default(500),
    /** upper bound of one store operation, waiting for a connection included (default: the larger timeout above) */
    operationTimeoutMs: z.number().int().positive().optional(),
    healthTimeoutMs: z.number().int().positive().optional(),
    maxReconnectDelayMs: z.number().int().positive().optional(),
    /** the revocation bound: verifiers trust their pushed revocation set only while it lags at most this (default 1000) */
    revocationFeedMaxLagMs: z.number().int().positive().max(60_000).optional(),
  })
  .superRefine((r, ctx) => {
    if (r.url === undefined && r.redis === undefined && r.sentinels === undefined && r.cluster === undefined)
      ctx.addIssue({ code: 'custom', message: 'a Redis store needs url, redis, sentinels or cluster', path: ['url'] });
    if (r.sentinels !== undefined && r.name === undefined)
      ctx.addIssue({ code: 'custom', message: 'sentinels need the master group name', path: ['name'] });
    if (r.cluster !== undefined && (r.url !== undefined || r.sentinels !== undefined || r.redis !== undefined))
      ctx.addIssue({ code: 'custom', message: 'give cluster alone (node options go in clusterOptions.redisOptions)', path: ['cluster'] });
    if (r.clusterOptions !== undefined && r.cluster === undefined)
      ctx.addIssue({ code: 'custom', message: 'clusterOptions needs cluster', path: ['clusterOptions'] });
  });

export const configSchema = z
  .strictObject({
    issuer: z.string().min(1),
    /** where the endpoints are served, when it differs from `issuer` (default: issuer) */
    baseUrl: httpUrl.optional(),
    trustDomain: z.string().min(1).optional(),
    trustDomains: z.array(z.string().min(1)).min(1).optional(),
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8080),
    tokenTtl: z.number().int().min(1).default(120),
    maxTokenTtl: z.number().int().min(1).max(600, 'never above 600 seconds (T-17)').default(300),
    clockSkew: z.number().int().min(0).max(60).default(30),
    maxChainDepth: z.number().int().min(1).max(32).default(8),
    keys: z.string().default('keys'),
    signingAlg: z.enum(['EdDSA', 'ES256']).default('EdDSA'),
    subjectIssuers: z.array(subjectIssuerSchema).default([]),
    clients: z.array(clientSchema).default([]),
    scopeImplications: z.record(z.string(), z.array(z.string().min(1))).default({}),
    /** `request_details` members copied into `tctx` (T-18); everything else is dropped */
    allowedRequestDetails: z.array(z.string().min(1)).default(['tool']),
    /** `request_context` members copied into `rctx` (T-18) */
    allowedRequestContext: z.array(z.string().min(1)).default([]),
    /** max bytes of each of request_details / request_context JSON (T-07) */
    maxContextBytes: z.number().int().positive().max(16384).default(4096),
    /** max bytes (JSON) of what is copied from a subject token into a Txn-Token: roles, principal attributes, act, amr */
    maxSubjectClaimsBytes: z.number().int().positive().max(16384).default(4096),
    store: z.union([z.literal('memory'), z.string().regex(/^rediss?:\/\//, 'memory or a redis:// URL'), redisOptions]).default('memory'),
    /** what to do when the store cannot be reached for a revocation check */
    revocationFailOpen: z.boolean().default(false),
    defaultRateLimit: rateLimit.default({ perClient: 600, perSubject: 60, windowSeconds: 60 }),
    /** directory of Cerbos-format policies deciding scopes (resource kind `txn_token`) */
    policies: z.string().optional(),
    dev: z.strictObject({ idp: z.boolean().default(false) }).default({ idp: false }),
    /**
     * Node: on SIGTERM/SIGINT (and `close()`), stop accepting connections, let requests in flight finish for at most
     * this long, then close what is left and exit. 0 closes at once.
     */
    drainTimeoutSeconds: z.number().int().min(0).max(300).default(10),
    /** the decision point (Cerbos HTTP API, AuthZEN, forward auth); `mount: true` serves it beside the TTS */
    pdp: pdpSchema.optional(),
  })
  .superRefine((c, ctx) => {
    if (c.trustDomain === undefined && c.trustDomains === undefined)
      ctx.addIssue({ code: 'custom', message: 'trustDomain (or trustDomains) is required', path: ['trustDomain'] });
    if (c.tokenTtl > c.maxTokenTtl)
      ctx.addIssue({ code: 'custom', message: `tokenTtl ${c.tokenTtl} exceeds maxTokenTtl ${c.maxTokenTtl}`, path: ['tokenTtl'] });
    const seen = new Set<string>();
    c.clients.forEach((cl, i) => {
      if (seen.has(cl.id)) ctx.addIssue({ code: 'custom', message: `duplicate client id ${cl.id}`, path: ['clients', i, 'id'] });
      seen.add(cl.id);
      // issue 17: an opaque subject token goes to the one introspecting issuer the workload accepts tokens of
      const introspecting = c.subjectIssuers.filter((s) => s.introspection !== undefined && s.audiences.some((a) => cl.subjectAudiences.includes(a)));
      if (introspecting.length > 1)
        ctx.addIssue({ code: 'custom', message: `opaque subject tokens of ${cl.id} could go to ${introspecting.length} introspecting issuers (${introspecting.map((s) => s.issuer).join(', ')}); its subjectAudiences must reach at most one`, path: ['clients', i, 'subjectAudiences'] });
    });
  });

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type SubjectIssuerConfig = z.output<typeof subjectIssuerSchema>;
export type ClientConfig = z.output<typeof clientSchema>;
export type RateLimitConfig = z.output<typeof rateLimit>;

export function trustDomainsOf(c: Config): string[] {
  return c.trustDomains ?? (c.trustDomain === undefined ? [] : [c.trustDomain]);
}

/** Renders zod issues as `file: path.to.field: message` lines. */
export function formatIssues(issues: readonly z.core.$ZodIssue[], source: string): string {
  return issues
    .map((i) => `${source}: ${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`)
    .join('\n');
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Validates an already-parsed configuration object (from a file, an env var, or a Worker binding). */
export function parseConfig(input: unknown, source = 'config'): Config {
  const r = configSchema.safeParse(input);
  if (!r.success) throw new ConfigError(formatIssues(r.error.issues, source));
  return r.data;
}

/** Replaces `${VAR}` and `${VAR:-default}` in every string value; a missing variable is an error naming the field. */
export function substituteEnv(value: unknown, env: Record<string, string | undefined>, source: string, path: string[] = []): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, def: string | undefined) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (def !== undefined) return def;
      throw new ConfigError(`${source}: ${path.join('.') || '(root)'}: environment variable ${name} is not set`);
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, source, [...path, String(i)]));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = substituteEnv(v, env, source, [...path, k]);
    return out;
  }
  return value;
}
