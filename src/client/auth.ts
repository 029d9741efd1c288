import { importJWK, type CryptoKey, type JWK } from 'jose';
import * as oauth from 'oauth4webapi';

/** How the workload authenticates to the TTS (T-08). Prefer `privateKeyJwt` (W-02). */
export type ClientAuthentication =
  | { readonly method: 'private_key_jwt'; readonly jwk: JWK }
  | { readonly method: 'client_secret_basic' | 'client_secret_post'; readonly secret: string };

/** private_key_jwt (RFC 7523): a fresh, short-lived assertion with a new `jti` on every request. `jwk` is private. */
export function privateKeyJwt(jwk: JWK): ClientAuthentication {
  if (typeof jwk.d !== 'string') throw new TypeError('privateKeyJwt needs a private JWK');
  return { method: 'private_key_jwt', jwk };
}

/** client_secret_basic (default) or client_secret_post. */
export function clientSecret(secret: string, method: 'basic' | 'post' = 'basic'): ClientAuthentication {
  if (typeof secret !== 'string' || secret.length === 0) throw new TypeError('clientSecret needs a secret');
  return { method: method === 'post' ? 'client_secret_post' : 'client_secret_basic', secret };
}

/** oauth4webapi's client authentication for `auth`, built once (a private JWK is imported on first use; retried after a failure). */
export function clientAuthOf(auth: ClientAuthentication): () => Promise<oauth.ClientAuth> {
  let made: Promise<oauth.ClientAuth> | undefined;
  return () => {
    made ??= (async () => {
      if (auth.method !== 'private_key_jwt') return auth.method === 'client_secret_post' ? oauth.ClientSecretPost(auth.secret) : oauth.ClientSecretBasic(auth.secret);
      const jwk = auth.jwk;
      const alg = typeof jwk.alg === 'string' ? jwk.alg : jwk.kty === 'OKP' ? 'EdDSA' : jwk.crv === 'P-256' ? 'ES256' : undefined;
      if (alg === undefined) throw new TypeError('privateKeyJwt: set alg on the JWK');
      const key = (await importJWK(jwk, alg)) as CryptoKey;
      // oauth4webapi signs a new assertion per request: iss = sub = client id, aud = the issuer, fresh jti, short exp.
      return oauth.PrivateKeyJwt(typeof jwk.kid === 'string' ? { key, kid: jwk.kid } : key);
    })();
    made.catch(() => (made = undefined));
    return made;
  };
}
