import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { generateSigningJwk, SigningKeySet, toPublicJwk, type SigningAlg } from '../jose/keys.js';

const KEY_FILE = /^[A-Za-z0-9._-]+\.jwk\.json$/;

/** Writes a new private signing JWK into `dir` (mode 0600) and returns its kid. */
export async function generateKeyFile(dir: string, alg: SigningAlg): Promise<{ kid: string; file: string }> {
  mkdirSync(dir, { recursive: true });
  const jwk = await generateSigningJwk(alg);
  const file = join(dir, `${jwk.kid!}.jwk.json`);
  writeFileSync(file, JSON.stringify(jwk, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  return { kid: jwk.kid!, file };
}

export function readKeyFiles(dir: string): JWK[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => KEY_FILE.test(n));
  } catch {
    return [];
  }
  return names.map((n) => {
    try {
      return JSON.parse(readFileSync(join(dir, n), 'utf8')) as JWK;
    } catch (e) {
      throw new Error(`${join(dir, n)}: not a JSON Web Key (${(e as Error).message})`);
    }
  });
}

/** Every key in `dir` (newest signs). With none and `generateIfEmpty`, makes a development key and says so. */
export async function loadSigningKeys(dir: string, alg: SigningAlg, opts: { generateIfEmpty: boolean; say: (m: string) => void }): Promise<SigningKeySet> {
  let jwks = readKeyFiles(dir);
  if (jwks.length === 0) {
    if (!opts.generateIfEmpty) throw new Error(`${dir}: no signing keys (run: baton keys generate)`);
    const { kid, file } = await generateKeyFile(dir, alg);
    opts.say(`no signing key found: generated development key ${kid} (${alg}) at ${file}`);
    jwks = readKeyFiles(dir);
  }
  return SigningKeySet.fromJwks(jwks);
}

/** The local development IdP's key (keys/dev-idp/), created on first use. Never a TTS signing key. The IdP itself: src/dev-idp.ts. */
export async function loadDevIdpKey(keysDir: string): Promise<{ privateJwk: JWK; publicJwks: { keys: JWK[] } }> {
  const dir = join(keysDir, 'dev-idp');
  let jwks = readKeyFiles(dir);
  if (jwks.length === 0) {
    await generateKeyFile(dir, 'EdDSA');
    jwks = readKeyFiles(dir);
  }
  const set = await SigningKeySet.fromJwks(jwks);
  const privateJwk = jwks.find((j) => j.kid === set.current.kid)!;
  return { privateJwk, publicJwks: { keys: jwks.map((j) => ({ ...toPublicJwk(j), alg: 'EdDSA', use: 'sig' })) } };
}

/** A key file refused on reload: its file and field. The shape `problemsOf` (src/ops/reload.ts) reads. */
export class KeyLoadError extends Error {
  override readonly name = 'KeyLoadError';
  constructor(readonly issues: ReadonlyArray<{ file: string; path?: string; message: string }>) {
    super(issues.map((i) => `${i.file}${i.path !== undefined ? ` (${i.path})` : ''}: ${i.message}`).join('; '));
  }
}

/** The field a SigningKeySet refusal is about (its messages name it). */
function keyField(message: string): string | undefined {
  if (/kid/.test(message)) return 'kid';
  if (/private part/.test(message)) return 'd';
  if (/\balg\b/.test(message)) return 'alg';
  if (/key type|kty|crv/.test(message)) return 'kty';
  return undefined;
}

/**
 * Every key in `dir`, each file checked on its own first so that a refusal names the file and the field (reload: a
 * bad file keeps the keys serving). Never generates a key. File names only: the directory is the operator's.
 */
export async function loadSigningKeysStrict(dir: string): Promise<SigningKeySet> {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => KEY_FILE.test(n)).sort();
  } catch (e) {
    throw new KeyLoadError([{ file: dir, message: `cannot read the key directory (${(e as NodeJS.ErrnoException).code ?? 'error'})` }]);
  }
  if (names.length === 0) throw new KeyLoadError([{ file: dir, message: 'no signing keys (*.jwk.json)' }]);
  const issues: Array<{ file: string; path?: string; message: string }> = [];
  const jwks: JWK[] = [];
  for (const n of names) {
    let jwk: JWK;
    try {
      jwk = JSON.parse(readFileSync(join(dir, n), 'utf8')) as JWK;
    } catch {
      issues.push({ file: n, message: 'not valid JSON' });
      continue;
    }
    try {
      await SigningKeySet.fromJwks([jwk]);
      jwks.push(jwk);
    } catch (e) {
      const message = (e as Error).message;
      const path = keyField(message);
      issues.push({ file: n, ...(path !== undefined ? { path } : {}), message });
    }
  }
  if (issues.length > 0) throw new KeyLoadError(issues);
  try {
    return await SigningKeySet.fromJwks(jwks);
  } catch (e) {
    const message = (e as Error).message;
    throw new KeyLoadError([{ file: dir, ...(keyField(message) !== undefined ? { path: keyField(message)! } : {}), message }]);
  }
}
