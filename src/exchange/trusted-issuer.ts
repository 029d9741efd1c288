import type { JWTVerifyGetKey } from 'jose';
import { needsDiscovery } from '../config/idp.js';
import type { SubjectIssuerConfig } from '../config/schema.js';
import { keySource } from '../jose/key-source.js';
import { compileClaimMapping, type ClaimMapping } from './claims.js';
import { DiscoveryUnavailable, IssuerMetadataSource } from './discovery.js';
import { OAuthError } from './errors.js';
import { Introspector } from './introspection.js';

/**
 * A configured subject issuer, ready for validation: its claim mapping, its keys (inline, a JWKS URI, or the
 * `jwks_uri` of its discovered metadata), and the introspection client for its opaque tokens.
 */
export interface TrustedIssuer {
  readonly config: SubjectIssuerConfig;
  /** the issuer's keys; with discovery, resolved through the metadata (call `ready()` first for a precise error) */
  readonly getKey: JWTVerifyGetKey;
  readonly mapping: ClaimMapping;
  /** present when the issuer's metadata is discovered */
  readonly metadata: IssuerMetadataSource | undefined;
  /** present when the issuer's opaque tokens are introspected */
  readonly introspector: Introspector | undefined;
  /** resolves what JWT validation needs (discovered keys); throws OAuthError 503 when it cannot be had now */
  ready(): Promise<void>;
}

export interface PrepareIssuerOptions {
  clockSkew: number;
  /** for tests: the fetch used for discovery and introspection */
  fetch?: typeof fetch;
  /** the fetch of the issuer's JWKS (the metrics count fetches through it); default the global fetch */
  jwksFetch?: ((input: URL, init: RequestInit) => Promise<Response>) | undefined;
  now?: () => number;
}

/** Discovery failures become 503 temporarily_unavailable naming the reason (never a URL or a body). */
export function discoveryFailed(e: unknown): OAuthError {
  const why = e instanceof DiscoveryUnavailable ? e.message : 'discovery failed';
  return new OAuthError('temporarily_unavailable', `the subject issuer cannot be used now: ${why}`, { reason: 'subject.discovery_unavailable', cause: e });
}

export function prepareIssuer(config: SubjectIssuerConfig, o: PrepareIssuerOptions = { clockSkew: 30 }): TrustedIssuer {
  const metadata = needsDiscovery(config) ? metadataSource(config, o) : undefined;
  const jwksOpts = o.jwksFetch !== undefined ? { fetch: o.jwksFetch } : {};
  const staticKey = config.jwks !== undefined || config.jwksUri !== undefined ? keySource(config, jwksOpts) : undefined;
  const keys = staticKey !== undefined ? async () => staticKey : discoveredKeys(metadata!, jwksOpts);
  return {
    config,
    getKey: staticKey ?? (async (header, token) => (await keys())(header, token)),
    mapping: compileClaimMapping(config),
    metadata,
    introspector: introspectorOf(config, o, metadata, keys),
    async ready() {
      if (staticKey !== undefined) return;
      try {
        await keys();
      } catch (e) {
        throw discoveryFailed(e);
      }
    },
  };
}

function metadataSource(config: SubjectIssuerConfig, o: PrepareIssuerOptions): IssuerMetadataSource {
  return new IssuerMetadataSource({
    issuer: config.issuer,
    timeoutMs: config.discovery.timeoutMs,
    refreshSeconds: config.discovery.refreshSeconds,
    minBackoffMs: config.discovery.retryMinSeconds * 1000,
    maxBackoffMs: Math.max(config.discovery.retryMinSeconds, config.discovery.retryMaxSeconds) * 1000,
    ...(o.fetch !== undefined ? { fetch: o.fetch } : {}),
    ...(o.now !== undefined ? { now: o.now } : {}),
  });
}

/** Keys from the discovered jwks_uri; a new URI (metadata refreshed) gets a new key set. */
function discoveredKeys(metadata: IssuerMetadataSource, jwksOpts: Parameters<typeof keySource>[1]): () => Promise<JWTVerifyGetKey> {
  let remote: { uri: string; getKey: JWTVerifyGetKey } | undefined;
  return async () => {
    const m = await metadata.get();
    if (m.jwks_uri === undefined) throw new DiscoveryUnavailable("the subject issuer's metadata has no jwks_uri");
    if (remote?.uri !== m.jwks_uri) remote = { uri: m.jwks_uri, getKey: keySource({ jwksUri: m.jwks_uri }, jwksOpts) };
    return remote.getKey;
  };
}

function introspectorOf(config: SubjectIssuerConfig, o: PrepareIssuerOptions, metadata: IssuerMetadataSource | undefined, keys: () => Promise<JWTVerifyGetKey>): Introspector | undefined {
  const ic = config.introspection;
  if (ic === undefined) return undefined;
  return new Introspector({
    issuer: config.issuer,
    config: ic,
    endpoint: async () => {
      if (ic.endpoint !== undefined) return ic.endpoint;
      const m = await metadata!.get();
      if (m.introspection_endpoint === undefined) throw new DiscoveryUnavailable("the subject issuer's metadata has no introspection_endpoint");
      return m.introspection_endpoint;
    },
    keys,
    algorithms: config.algorithms,
    clockSkew: o.clockSkew,
    ...(o.fetch !== undefined ? { fetch: o.fetch } : {}),
    ...(o.now !== undefined ? { now: o.now } : {}),
  });
}
