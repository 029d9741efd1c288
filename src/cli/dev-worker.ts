// `baton dev worker`: everything `wrangler dev` needs to run the TTS Worker locally like `npm start` runs it on Node,
// written to .dev.vars (which wrangler dev reads instead of wrangler.toml [vars] of the same name; never committed):
//   BATON_CONFIG                the Node configuration as JSON for a local issuer (http://127.0.0.1:PORT), dev IdP on,
//                               no store/keys (the Durable Object and BATON_SIGNING_KEYS), client secrets as ${VARs}
//   BATON_SIGNING_KEYS          the private signing keys of its keys directory (a development key is made when none)
//   BATON_DEV_IDP_JWKS          the public key of the dev IdP (keys/dev-idp/), so `baton dev token` tokens exchange
//   BATON_CLIENT_SECRET_<ID>    each secret-based client's secret (plain secrets; sha256: forms stay in the config)
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import type { LoadedConfig } from '../config/load.node.js';
import { readConfigSource } from '../config/load.node.js';
import { ConfigError, parseConfig, substituteEnv } from '../config/schema.js';
import { loadDevIdpKey, loadSigningKeys, readKeyFiles } from './keys.js';

export interface DevWorkerOptions {
  loaded: LoadedConfig;
  out: string;
  port: number;
  force: boolean;
}

/** `BATON_CLIENT_SECRET_MCP_SUPPORT_AGENT` for client `mcp-support-agent`. */
export function secretVarName(clientId: string): string {
  return `BATON_CLIENT_SECRET_${clientId.toUpperCase().replace(/[^A-Z0-9]+/g, '_').replace(/^_+|_+$/g, '')}`;
}

/** One `NAME='value'` line of a dotenv file: single quotes keep the value literal, so it may hold neither ' nor a newline. */
function line(name: string, value: string): string {
  if (value.includes("'") || /[\r\n]/.test(value)) throw new ConfigError(`${name}: a value with a quote or a newline cannot be written to .dev.vars`);
  return `${name}='${value}'`;
}

export async function devWorkerCommand(o: DevWorkerOptions, say: (s: string) => void = (s) => console.log(s)): Promise<number> {
  const out = resolve(o.out);
  const shown = relative(process.cwd(), out) || out;
  if (existsSync(out) && !o.force) {
    const current = readFileSync(out, 'utf8');
    const issuer = /"issuer":"([^"]*)"/.exec(current)?.[1];
    say(`${shown} exists: kept${issuer !== undefined ? ` (issuer ${issuer})` : ''}. baton dev worker --force rewrites it.`);
    return 0;
  }
  const { value } = readConfigSource(o.loaded.file);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`${o.loaded.file}: not a configuration object`);
  const worker: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  const issuer = `http://127.0.0.1:${o.port}`;
  worker['issuer'] = issuer;
  for (const k of ['baseUrl', 'store', 'keys', 'host', 'port']) delete worker[k];
  worker['dev'] = { idp: true };
  const secrets: [string, string][] = [];
  if (Array.isArray(worker['clients'])) {
    worker['clients'] = worker['clients'].map((c: unknown) => {
      if (c === null || typeof c !== 'object') return c;
      const client = { ...(c as Record<string, unknown>) };
      const secret = client['secret'];
      const id = client['id'];
      if (typeof secret === 'string' && typeof id === 'string' && !secret.startsWith('sha256:')) {
        const name = secretVarName(id);
        secrets.push([name, secret]);
        client['secret'] = `\${${name}}`;
      }
      return client;
    });
  }
  // the Worker validates BATON_CONFIG with the same schema: refuse here what it would refuse there
  parseConfig(substituteEnv(worker, Object.fromEntries(secrets), 'BATON_CONFIG'), 'BATON_CONFIG');

  const keysDir = o.loaded.resolvePath(o.loaded.config.keys);
  await loadSigningKeys(keysDir, o.loaded.config.signingAlg, { generateIfEmpty: true, say: (m) => say(m) });
  const signing = readKeyFiles(keysDir);
  const { publicJwks } = await loadDevIdpKey(keysDir);

  const text = [
    `# Written by \`baton dev worker\` (${new Date().toISOString()}) from ${relative(process.cwd(), o.loaded.file) || o.loaded.file}, for a local`,
    `# \`wrangler dev --port ${o.port}\` only: it holds private keys and secrets. Never commit it (.gitignore lists it).`,
    line('BATON_CONFIG', JSON.stringify(worker)),
    line('BATON_SIGNING_KEYS', JSON.stringify(signing)),
    line('BATON_DEV_IDP_JWKS', JSON.stringify(publicJwks)),
    ...secrets.map(([n, v]) => line(n, v)),
    '',
  ].join('\n');
  const tmp = `${out}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, out);
  say(
    `wrote ${shown}: issuer ${issuer}, ${signing.length} signing key(s) from ${relative(process.cwd(), keysDir) || keysDir}, the dev IdP's public key` +
      (secrets.length > 0 ? `, ${secrets.map(([n]) => n).join(', ')}` : ''),
  );
  return 0;
}
