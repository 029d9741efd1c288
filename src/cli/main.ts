import { readFileSync } from 'node:fs';
import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, decodeProtectedHeader, importJWK, SignJWT, type JWTVerifyGetKey } from 'jose';
import { configPathFrom, loadConfigFile } from '../config/load.node.js';
import { ConfigError, trustDomainsOf } from '../config/schema.js';
import { hashSecret } from '../exchange/client-auth.js';
import { createDecisionLogger } from '../log/index.js';
import { actChain, JwtProfileError, verifyTxnToken, type ActClaim } from '../jose/index.js';
import { DEV_IDP_ISSUER, generateKeyFile, loadDevIdpKey } from './keys.js';

const USAGE = `baton — Transaction Token Service with an embedded policy engine

usage:
  baton serve [--config FILE] [--port N] [--host H]    run the TTS (default config: baton.config.yaml or $BATON_CONFIG)
  baton keys generate [--alg EdDSA|ES256] [--dir DIR]  write a new private signing key (the newest key signs)
  baton dev token --sub ID --scope "S1 S2" [--roles r1,r2] [--aud AUD] [--ttl SECONDS] [--config FILE]
                                                       print a user access token from the local dev IdP
  baton token inspect JWT [--jwks FILE|URL] [--config FILE]
                                                       show header, claims and chain (never the signature)
  baton policy test [DIR] [--output json]              run *_test.yaml policy suites
  baton policy compile [DIR]                           validate policies only
  baton policy build [DIR] --out FILE [--check]        compile policies into one bundle (for Workers)
  baton secret hash SECRET                             print the sha256: form of a client secret for the config
`;

function flag(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new UsageError(`${name} needs a value`);
  return v;
}

class UsageError extends Error {}

async function serve(argv: readonly string[]): Promise<number> {
  const { startNode, drainServer } = await import('../node.js');
  const loaded = loadConfigFile(configPathFrom(argv, process.env));
  const portFlag = flag(argv, '--port') ?? process.env.PORT;
  const port = portFlag === undefined ? undefined : Number(portFlag);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new UsageError('--port must be a port number');
  const host = flag(argv, '--host');
  const decisions = process.env.BATON_DECISION_LOG !== 'off';
  const node = await startNode({
    loaded,
    ...(port !== undefined ? { port } : {}),
    ...(host !== undefined ? { host } : {}),
    // the TTS's lines are rendered by baton/log, as every hop's: scrubbed, bounded, one line each
    ...(decisions ? { onDecision: createDecisionLogger({ sink: (line) => process.stdout.write(`${line}\n`) }).sink } : {}),
  });
  console.error(`baton: TTS ${node.config.issuer} serving on ${node.url} (trust domains: ${trustDomainsOf(node.config).join(', ')}; store: ${node.store.backend})`);
  // Graceful shutdown: the first SIGTERM/SIGINT drains (at most drainTimeoutSeconds, then whatever is left is closed),
  // a second one ends the drain at once. Start and end of the drain are logged; the exit code is 0 either way.
  let draining: { now(): void } | undefined;
  const stop = (signal: string): void => {
    if (draining !== undefined) {
      console.error(`baton: ${signal} again: closing the remaining connections now`);
      draining.now();
      return;
    }
    console.error(`baton: ${signal}: shutting down`);
    const say = (m: string): void => console.error(`baton: ${m}`);
    const d = drainServer(node.server, node.config.drainTimeoutSeconds * 1000, say);
    draining = d;
    void d.done
      .then(() => node.store.close())
      .catch((e: unknown) => say(`closing the store failed: ${(e as Error).message}`))
      .finally(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  return new Promise<number>(() => {});
}

async function keys(argv: readonly string[]): Promise<number> {
  if (argv[0] !== 'generate') throw new UsageError('baton keys generate [--alg EdDSA|ES256] [--dir DIR]');
  const alg = flag(argv, '--alg') ?? 'EdDSA';
  if (alg !== 'EdDSA' && alg !== 'ES256') throw new UsageError('--alg must be EdDSA or ES256');
  let dir = flag(argv, '--dir');
  if (dir === undefined) {
    try {
      const l = loadConfigFile(configPathFrom(argv, process.env));
      dir = l.resolvePath(l.config.keys);
    } catch {
      dir = 'keys';
    }
  }
  const { kid, file } = await generateKeyFile(dir, alg);
  console.log(`generated ${alg} signing key ${kid} at ${file} (the newest key signs; older keys stay published for verification)`);
  return 0;
}

async function devToken(argv: readonly string[]): Promise<number> {
  if (argv[0] !== 'token') throw new UsageError('baton dev token --sub ID --scope "S1 S2"');
  const sub = flag(argv, '--sub');
  const scope = flag(argv, '--scope');
  if (sub === undefined || scope === undefined) throw new UsageError('--sub and --scope are required');
  const l = loadConfigFile(configPathFrom(argv, process.env));
  if (!l.config.dev.idp) throw new UsageError('the configuration does not trust the dev IdP (dev.idp: false)');
  const aud = flag(argv, '--aud') ?? l.config.clients.flatMap((c) => c.subjectAudiences)[0] ?? 'urn:baton:dev';
  const ttl = Number(flag(argv, '--ttl') ?? '600');
  if (!Number.isInteger(ttl) || ttl <= 0 || ttl > 86400) throw new UsageError('--ttl must be seconds between 1 and 86400');
  const roles = (flag(argv, '--roles') ?? 'user').split(',').map((r) => r.trim()).filter((r) => r.length > 0);
  const { privateJwk } = await loadDevIdpKey(l.resolvePath(l.config.keys));
  const key = await importJWK(privateJwk, 'EdDSA');
  const now = Math.floor(Date.now() / 1000);
  const jwt = await new SignJWT({ scope, roles, client_id: 'baton-dev', amr: ['pwd'] })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: privateJwk.kid! })
    .setIssuer(DEV_IDP_ISSUER)
    .setSubject(sub)
    .setAudience(aud)
    .setIssuedAt(now)
    .setExpirationTime(now + ttl)
    .setJti(crypto.randomUUID())
    .sign(key);
  console.log(jwt);
  return 0;
}

function tree(act: ActClaim | undefined, sub: unknown): string[] {
  const chain = actChain(act);
  const lines = [`user ${String(sub)}`];
  // chain is outermost (current actor) first; print the path the request travelled, first hop first
  [...chain].reverse().forEach((w, i) => lines.push(`${'  '.repeat(i + 1)}└─ ${w}${i === chain.length - 1 ? '   (current actor)' : ''}`));
  return lines;
}

async function tokenInspect(argv: readonly string[]): Promise<number> {
  if (argv[0] !== 'inspect' || argv[1] === undefined || argv[1].startsWith('--')) throw new UsageError('baton token inspect JWT [--jwks FILE|URL] [--config FILE]');
  const jwt = argv[1].trim();
  let header: Record<string, unknown>;
  let claims: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(jwt) as Record<string, unknown>;
    claims = decodeJwt(jwt) as Record<string, unknown>;
  } catch {
    console.error('not a JWT');
    return 1;
  }
  console.log('header:');
  console.log(JSON.stringify(header, null, 2));
  console.log('claims:');
  console.log(JSON.stringify(claims, null, 2));
  for (const t of ['iat', 'exp'] as const)
    if (typeof claims[t] === 'number') console.log(`${t}: ${new Date((claims[t] as number) * 1000).toISOString()}`);
  console.log('chain:');
  for (const line of tree(claims.act as ActClaim | undefined, claims.sub)) console.log(`  ${line}`);
  const jwksArg = flag(argv, '--jwks');
  let getKey: JWTVerifyGetKey | undefined;
  let audiences: string[] | undefined;
  let issuer: string | undefined;
  if (jwksArg !== undefined) {
    getKey = /^https?:\/\//.test(jwksArg) ? createRemoteJWKSet(new URL(jwksArg)) : createLocalJWKSet(JSON.parse(readFileSync(jwksArg, 'utf8')));
  } else if (argv.includes('--config')) {
    const l = loadConfigFile(configPathFrom(argv, process.env));
    const { readKeyFiles } = await import('./keys.js');
    const { toPublicJwk } = await import('../jose/keys.js');
    getKey = createLocalJWKSet({ keys: readKeyFiles(l.resolvePath(l.config.keys)).map(toPublicJwk) });
    audiences = trustDomainsOf(l.config);
    issuer = l.config.issuer;
  }
  if (getKey === undefined) {
    console.log('signature: not verified (give --jwks or --config)');
    return 0;
  }
  const aud = claims.aud;
  try {
    await verifyTxnToken(jwt, { getKey, algorithms: ['EdDSA', 'ES256'], clockSkew: 30, audiences: audiences ?? (Array.isArray(aud) ? aud : typeof aud === 'string' ? [aud] : []), issuer });
    console.log('verification: valid Txn-Token');
    return 0;
  } catch (e) {
    console.log(`verification: FAILED (${e instanceof JwtProfileError ? e.code : 'error'}: ${(e as Error).message})`);
    return 1;
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'serve':
        return await serve(rest);
      case 'keys':
        return await keys(rest);
      case 'dev':
        return await devToken(rest);
      case 'token':
        return await tokenInspect(rest);
      case 'policy': {
        const { policyTestCommand, policyCompileCommand } = await import('../policy/cli.node.js');
        if (rest[0] === 'test') return await policyTestCommand(rest.slice(1));
        if (rest[0] === 'compile') return await policyCompileCommand(rest.slice(1));
        if (rest[0] === 'build') return await (await import('./policy-build.js')).policyBuildCommand(rest.slice(1));
        throw new UsageError('baton policy test|compile|build [DIR]');
      }
      case 'secret':
        if (rest[0] !== 'hash' || rest[1] === undefined) throw new UsageError('baton secret hash SECRET');
        console.log(await hashSecret(rest[1]));
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        console.log(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${cmd}`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`baton: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    if (e instanceof ConfigError) {
      console.error(`baton: configuration error:\n${e.message}`);
      return 1;
    }
    console.error(`baton: ${(e as Error).message}`);
    return 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/cli/main.ts')) {
  void main(process.argv.slice(2)).then((code) => {
    if (code !== 0 || process.argv[2] !== 'serve') process.exitCode = code;
  });
}
