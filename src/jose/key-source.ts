import { createLocalJWKSet, createRemoteJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';

export interface KeySourceConfig {
  jwks?: { keys: readonly object[] } | undefined;
  jwksUri?: string | undefined;
}

export interface RemoteJwksOptions {
  /** minimum time between two fetches triggered by an unknown `kid` (V-02 cool-down) */
  cooldownMs?: number;
  /** how long a fetched key set is used before it is fetched again */
  cacheMaxAgeMs?: number;
  timeoutMs?: number;
}

/**
 * A key getter for jose: an inline JWKS, or a remote one fetched once, cached, and refetched on an unknown `kid`
 * at most once per cool-down. Headers `jku`, `x5u`, `jwk` of the token are never used to find a key.
 */
export function keySource(cfg: KeySourceConfig, opts: RemoteJwksOptions = {}): JWTVerifyGetKey {
  if (cfg.jwks !== undefined) return createLocalJWKSet(cfg.jwks as JSONWebKeySet);
  if (cfg.jwksUri !== undefined) {
    return createRemoteJWKSet(new URL(cfg.jwksUri), {
      cooldownDuration: opts.cooldownMs ?? 30_000,
      cacheMaxAge: opts.cacheMaxAgeMs ?? 600_000,
      timeoutDuration: opts.timeoutMs ?? 3_000,
    });
  }
  throw new Error('a key source needs jwks or jwksUri');
}
