import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';

export type SigningAlg = 'EdDSA' | 'ES256';

export interface SigningKey {
  readonly kid: string;
  readonly alg: SigningAlg;
  readonly privateKey: CryptoKey;
  /** public members only: safe to publish */
  readonly publicJwk: JWK;
}

const PRIVATE_MEMBERS = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth']);

/** Strips every private member of a JWK; what remains may be published. */
export function toPublicJwk(jwk: JWK): JWK {
  const out: JWK = {};
  for (const [k, v] of Object.entries(jwk)) if (!PRIVATE_MEMBERS.has(k)) (out as Record<string, unknown>)[k] = v;
  return out;
}

function algOf(jwk: JWK): SigningAlg {
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  throw new Error(`unsupported signing key type ${String(jwk.kty)}/${String(jwk.crv)} (EdDSA Ed25519 or ES256 P-256)`);
}

/**
 * A new private signing JWK. Its `kid` starts with the creation time (UTC, sortable) so that the newest key
 * is the greatest `kid`, followed by part of the RFC 7638 thumbprint.
 */
export async function generateSigningJwk(alg: SigningAlg = 'EdDSA', now = new Date()): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { extractable: true, crv: 'Ed25519' } : { extractable: true });
  const jwk = await exportJWK(privateKey);
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, 'Z');
  const thumb = await calculateJwkThumbprint(jwk);
  return { ...jwk, kid: `${stamp}-${thumb.slice(0, 12)}`, alg, use: 'sig' };
}

export class SigningKeySet {
  /** newest first */
  readonly keys: readonly SigningKey[];
  private readonly published: { keys: JWK[] };

  private constructor(keys: SigningKey[]) {
    this.keys = keys;
    this.published = { keys: keys.map((k) => k.publicJwk) };
  }

  /** The key that signs: the newest. */
  get current(): SigningKey {
    const k = this.keys[0];
    if (k === undefined) throw new Error('no signing key');
    return k;
  }

  /** Every key still valid for verification (rotation overlap), public members only. */
  jwks(): { keys: JWK[] } {
    return this.published;
  }

  /** Imports private JWKs (each must have a `kid` and be EdDSA/Ed25519 or ES256/P-256). */
  static async fromJwks(jwks: readonly JWK[]): Promise<SigningKeySet> {
    if (jwks.length === 0) throw new Error('no signing keys');
    const keys: SigningKey[] = [];
    const seen = new Set<string>();
    for (const jwk of jwks) {
      if (typeof jwk.kid !== 'string' || jwk.kid.length === 0) throw new Error('signing key without kid');
      if (typeof jwk.d !== 'string') throw new Error(`signing key ${jwk.kid} has no private part`);
      if (seen.has(jwk.kid)) throw new Error(`duplicate signing key kid ${jwk.kid}`);
      seen.add(jwk.kid);
      const alg = algOf(jwk);
      if (jwk.alg !== undefined && jwk.alg !== alg) throw new Error(`signing key ${jwk.kid}: alg ${jwk.alg} does not match its curve`);
      const privateKey = (await importJWK({ ...jwk, alg }, alg)) as CryptoKey;
      keys.push({ kid: jwk.kid, alg, privateKey, publicJwk: { ...toPublicJwk(jwk), alg, use: 'sig' } });
    }
    keys.sort((a, b) => (a.kid < b.kid ? 1 : a.kid > b.kid ? -1 : 0));
    return new SigningKeySet(keys);
  }
}
