// `baton token inspect`: the header, claims and workload chain of a JWT (never its signature), verified as a Txn-Token
// against a JWKS or a TTS configuration when one is given.
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import { loadConfigFile } from '../config/load.node.js';
import { trustDomainsOf } from '../config/schema.js';
import { JwtProfileError, verifyTxnToken } from '../jose/index.js';
import { toPublicJwk } from '../jose/keys.js';
import { actChain, isActChain, peekClaims, peekHeader, type ActClaim } from '../txn/index.js';
import { readKeyFiles } from './keys.js';

function tree(act: ActClaim | undefined, sub: unknown): string[] {
  const chain = actChain(act);
  const lines = [`user ${String(sub)}`];
  // chain is outermost (current actor) first; print the path the request travelled, first hop first
  [...chain].reverse().forEach((w, i) => lines.push(`${'  '.repeat(i + 1)}└─ ${w}${i === chain.length - 1 ? '   (current actor)' : ''}`));
  return lines;
}

/** The key set, trust domains and issuer to verify with: a JWKS (file or URL), or a TTS configuration's own. */
function verification(o: { jwks: string | undefined; config: string | undefined }): { getKey: JWTVerifyGetKey; audiences?: string[]; issuer?: string } | undefined {
  if (o.jwks !== undefined) return { getKey: /^https?:\/\//.test(o.jwks) ? createRemoteJWKSet(new URL(o.jwks)) : createLocalJWKSet(JSON.parse(readFileSync(o.jwks, 'utf8'))) };
  if (o.config === undefined) return undefined;
  const l = loadConfigFile(o.config);
  return { getKey: createLocalJWKSet({ keys: readKeyFiles(l.resolvePath(l.config.keys)).map(toPublicJwk) }), audiences: trustDomainsOf(l.config), issuer: l.config.issuer };
}

export async function inspectToken(jwt: string, o: { jwks: string | undefined; config: string | undefined }): Promise<number> {
  const header = peekHeader(jwt);
  const claims = peekClaims(jwt);
  if (header === undefined || claims === undefined) {
    console.error('not a JWT');
    return 1;
  }
  console.log('header:');
  console.log(JSON.stringify(header, null, 2));
  console.log('claims:');
  console.log(JSON.stringify(claims, null, 2));
  for (const t of ['iat', 'exp'] as const) {
    const at = claims[t];
    if (typeof at === 'number') console.log(`${t}: ${new Date(at * 1000).toISOString()}`);
  }
  console.log('chain:');
  const act = claims['act'];
  for (const line of tree(isActChain(act) ? act : undefined, claims['sub'])) console.log(`  ${line}`);
  const v = verification(o);
  if (v === undefined) {
    console.log('signature: not verified (give --jwks or --config)');
    return 0;
  }
  const aud = claims['aud'];
  try {
    const audiences = v.audiences ?? (Array.isArray(aud) ? aud : typeof aud === 'string' ? [aud] : []);
    await verifyTxnToken(jwt, { getKey: v.getKey, algorithms: ['EdDSA', 'ES256'], clockSkew: 30, audiences, issuer: v.issuer });
    console.log('verification: valid Txn-Token');
    return 0;
  } catch (e) {
    console.log(`verification: FAILED (${e instanceof JwtProfileError ? e.code : 'error'}: ${(e as Error).message})`);
    return 1;
  }
}
