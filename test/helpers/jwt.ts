/**
 * JWTs in tests (runtime-neutral: Node and workerd): reading one without verifying it (through jose's decoders),
 * forging one (unsigned, tampered, deeply nested), keys, client assertions (RFC 7523) and self-signed subjects (T-10).
 */
import { base64url, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';

/** The claims of a JWT, unverified (for asserting what was minted). */
export function claimsOf(jwt: string): Record<string, unknown> {
  return decodeJwt(jwt) as Record<string, unknown>;
}

/** The protected header of a JWT, unverified. */
export function headerOf(jwt: string): Record<string, unknown> {
  return decodeProtectedHeader(jwt) as Record<string, unknown>;
}

const b64u = (s: string): string => base64url.encode(s);

/** A compact JWS from a header, a payload and a signature segment (not signed by anything). */
export function rawJwt(header: Record<string, unknown>, payload: Record<string, unknown>, signature = ''): string {
  return `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}.${signature}`;
}

/** Replaces the payload of a signed JWS, keeping header and signature. */
export function tamperPayload(jwt: string, change: (claims: Record<string, unknown>) => Record<string, unknown>): string {
  const [h, , s] = jwt.split('.');
  return `${h}.${b64u(JSON.stringify(change(claimsOf(jwt))))}.${s}`;
}

/** JSON text of `claims` with the member `name` replaced by arrays nested `depth` levels deep (2 bytes a level). */
export function withDeepClaim(claims: Record<string, unknown>, name: string, depth: number): string {
  const marker = '"__deep_claim_marker__"';
  return JSON.stringify({ ...claims, [name]: '__deep_claim_marker__' }).replace(marker, `${'['.repeat(depth)}${']'.repeat(depth)}`);
}

/** Every compact JWS/JWE in `text`: dot-separated base64url segments whose first decodes to a JSON object. */
export function jwtsIn(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/[A-Za-z0-9_-]{2,}(?:\.[A-Za-z0-9_-]*){2,}/g)) {
    const first = m[0].split('.')[0]!;
    let head = '';
    try {
      head = new TextDecoder('latin1').decode(base64url.decode(first.length % 4 === 1 ? first.slice(0, -1) : first));
    } catch {
      head = '';
    }
    if (/^\s*\{/.test(head)) out.push(m[0]);
  }
  return out;
}

/** Line-breaking characters a line-based reader may split on. */
export const LINE_BREAKS = /[\n\r\u2028\u2029\u0085\u000b\u000c]/;

export type KeyAlg = 'EdDSA' | 'ES256' | 'RS256';

export interface KeyPair {
  kid: string;
  alg: KeyAlg;
  privateKey: CryptoKey;
  /**
   * public members only, with kid and use. No `alg` member: oauth4webapi signs Ed25519 assertions as `Ed25519`
   * (RFC 9864) and jose would not select a JWK whose `alg` says `EdDSA` for them.
   */
  publicJwk: JWK;
}

export async function makeKey(alg: KeyAlg = 'EdDSA', kid: string = `k-${crypto.randomUUID().slice(0, 8)}`): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, use: 'sig' };
  return { kid, alg, privateKey, publicJwk };
}

export interface AssertionOptions {
  iss?: string;
  sub?: string;
  aud?: string | string[];
  /** seconds from now; default 60 */
  ttl?: number;
  jti?: string;
  typ?: string;
  claims?: Record<string, unknown>;
}

/** An RFC 7523 client assertion (private_key_jwt, T-08) of `clientId` for the TTS `aud`, signed with `key`. */
export async function clientAssertion(key: Pick<KeyPair, 'alg' | 'kid' | 'privateKey'>, clientId: string, aud: string, o: AssertionOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ ...(o.claims ?? {}) })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, ...(o.typ !== undefined ? { typ: o.typ } : {}) })
    .setIssuer(o.iss ?? clientId)
    .setSubject(o.sub ?? clientId)
    .setAudience(o.aud ?? aud)
    .setIssuedAt(now)
    .setExpirationTime(now + (o.ttl ?? 60))
    .setJti(o.jti ?? crypto.randomUUID())
    .sign(key.privateKey);
}

/** A self-signed subject (T-10): iss = the workload, aud = the TTS issuer, signed with the workload's key. */
export async function selfSignedSubject(key: KeyPair, workload: string, ttsIssuer: string, claims: Record<string, unknown>, o: { ttl?: number; sub?: string; aud?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .setIssuer(workload)
    .setSubject(o.sub ?? 'alice')
    .setAudience(o.aud ?? ttsIssuer)
    .setIssuedAt(now)
    .setExpirationTime(now + (o.ttl ?? 60))
    .sign(key.privateKey);
}
