/**
 * The local development IdP, in one place: its issuer, how the TTS trusts it (`dev.idp: true` only) and the access
 * tokens `baton dev token` prints. Workers-safe: the key itself is read by the runtime (a key file under `keys/dev-idp/`
 * on Node, cli/keys.ts; `BATON_DEV_IDP_JWKS` on Workers, worker.ts).
 */
import { importJWK, SignJWT, type JWK } from 'jose';
import { ConfigError, subjectIssuerSchema, type Config } from './config/schema.js';

export const DEV_IDP_ISSUER = 'urn:baton:dev-idp';

/** The audience of dev tokens when no client names one. */
const DEV_AUDIENCE = 'urn:baton:dev';

/** The audiences the configured clients exchange subject tokens for (T-11): what a dev token is issued to. */
export function devAudiences(config: Config): string[] {
  const audiences = [...new Set(config.clients.flatMap((c) => c.subjectAudiences))];
  return audiences.length > 0 ? audiences : [DEV_AUDIENCE];
}

/**
 * The configuration with the dev IdP as a trusted subject issuer (replacing any issuer of the same name): its public
 * keys, EdDSA, roles from `roles`, `email` and `tenant` as principal attributes. A key set the schema refuses is a
 * ConfigError naming `field`.
 */
export function withDevIdp(config: Config, publicJwks: { keys: readonly JWK[] }, field = 'dev.idp'): Config {
  const r = subjectIssuerSchema.safeParse({
    issuer: DEV_IDP_ISSUER,
    jwks: { keys: [...publicJwks.keys] },
    audiences: devAudiences(config),
    algorithms: ['EdDSA'],
    rolesClaim: 'roles',
    principalAttributes: ['email', 'tenant'],
  });
  if (!r.success) throw new ConfigError(`${field}: ${r.error.issues[0]!.message}`);
  return { ...config, subjectIssuers: [...config.subjectIssuers.filter((s) => s.issuer !== DEV_IDP_ISSUER), r.data] };
}

export interface DevTokenOptions {
  sub: string;
  scope: string;
  roles: readonly string[];
  aud: string;
  /** seconds */
  ttl: number;
  now?: Date;
}

/** An RFC 9068 access token of the dev IdP (`typ: at+jwt`), signed with its private key. */
export async function devAccessToken(privateJwk: JWK, o: DevTokenOptions): Promise<string> {
  const key = await importJWK(privateJwk, 'EdDSA');
  const now = Math.floor((o.now ?? new Date()).getTime() / 1000);
  return new SignJWT({ scope: o.scope, roles: [...o.roles], client_id: 'baton-dev', amr: ['pwd'] })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: privateJwk.kid! })
    .setIssuer(DEV_IDP_ISSUER)
    .setSubject(o.sub)
    .setAudience(o.aud)
    .setIssuedAt(now)
    .setExpirationTime(now + o.ttl)
    .setJti(crypto.randomUUID())
    .sign(key);
}
