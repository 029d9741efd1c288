// `baton init`: a starter configuration and a development signing key in a folder, then what to do next. The client
// secret is generated here and printed once; the file keeps only its sha256: form.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { ConfigError } from '../config/schema.js';
import { hashSecret } from '../exchange/client-auth.js';
import { generateKeyFile, readKeyFiles } from './keys.js';
import { advertisedEndpointProblem } from '../server/advertised.js';

export interface InitOptions {
  dir: string;
  port: number;
  /** default http://127.0.0.1:PORT */
  issuer: string | undefined;
  trustDomain: string;
  force: boolean;
  /** --port was given (an explicit issuer then has to agree with it) */
  portGiven: boolean;
}

export const INIT_CLIENT_ID = 'my-mcp-server';
export const INIT_AUDIENCE = 'https://mcp.example.internal';

/** YAML scalar for values that come from the command line (quoted unless plainly safe). */
function scalar(v: string): string {
  return /^[A-Za-z0-9_./:@-]+$/.test(v) && !/^[-?:,[\]{}#&*!|>'"%@`]/.test(v) ? v : JSON.stringify(v);
}

/** Where the TTS will be: the issuer (no trailing slash) and the port; refused when they would disagree. */
function issuerAndPort(o: InitOptions): { issuer: string; port: number } {
  const issuer = o.issuer ?? `http://127.0.0.1:${o.port}`;
  let port = o.port;
  let url: URL | undefined;
  try {
    url = new URL(issuer);
  } catch {
    url = undefined;
  }
  if (o.issuer !== undefined && !o.portGiven && url?.protocol === 'http:' && url.port !== '') port = Number(url.port);
  const trimmed = issuer.replace(/\/+$/, '');
  const problem = advertisedEndpointProblem({ issuer: trimmed, baseUrl: undefined }, { host: '127.0.0.1', port });
  if (problem !== undefined) throw new ConfigError(problem);
  if (o.trustDomain.trim() === '') throw new ConfigError('--trust-domain must not be empty');
  return { issuer: trimmed, port };
}

/** The starter configuration file. */
function configText(issuer: string, port: number, trustDomain: string, hashed: string): string {
  return `# Baton TTS configuration, written by \`baton init\` (${new Date().toISOString().slice(0, 10)}): a development setup.
# Every field is described in Baton's README (Configuration). Secrets can come from the environment: \${VAR}.
issuer: ${scalar(issuer)}   # the TTS identifier: iss of Txn-Tokens, aud of client assertions; metadata is served here
trustDomain: ${scalar(trustDomain)}   # the aud of Txn-Tokens: what your services accept
host: 127.0.0.1
port: ${port}
keys: keys                # private signing keys (keys/<kid>.jwk.json; the newest signs). Never commit them.
store: memory             # one instance only; several instances share redis://host:6379/0
tokenTtl: 120             # seconds a Txn-Token lives

dev:
  idp: true               # trust the local dev IdP of \`baton dev token\`. Development only: false in production.

subjectIssuers: []        # your IdP(s): issuer, jwksUri (or jwks), audiences, algorithms, rolesClaim ...

clients:
  # A workload (e.g. your MCP server) that exchanges its users' access tokens for Txn-Tokens.
  - id: ${INIT_CLIENT_ID}
    auth: client_secret_basic        # or private_key_jwt with jwks / jwksUri
    secret: ${hashed}   # sha256: form of the secret \`baton init\` printed
    scopes: [orders:read, orders:write]              # the most it may ever get
    subjectAudiences: [${INIT_AUDIENCE}]   # it exchanges only user tokens issued to it

allowedRequestDetails: [tool]   # request_details members copied into the Txn-Token

# policies: policies      # Cerbos-format policies deciding which scopes a workload gets (resource kind txn_token)
`;
}

/** A development signing key in `keysDir`, unless it holds keys already; says which. */
async function ensureKey(keysDir: string): Promise<string> {
  if (readKeyFiles(keysDir).length > 0) return `no new key: ${relative(process.cwd(), keysDir) || keysDir} already holds signing keys`;
  const { kid, file: keyFile } = await generateKeyFile(keysDir, 'EdDSA');
  return `a development signing key ${kid} at ${relative(process.cwd(), keyFile) || keyFile}`;
}

/** What was written and what to do next. */
function nextSteps(rel: string, issuer: string, trustDomain: string, keyLine: string, secret: string): string {
  const cfg = rel === 'baton.config.yaml' ? '' : ` --config ${rel}`;
  return [
    `wrote ${rel} (issuer ${issuer}, trust domain ${trustDomain}, memory store, dev IdP on) and ${keyLine}`,
    '',
    `client ${INIT_CLIENT_ID}: secret ${secret}`,
    '  shown once: the file holds only its sha256: form. Keep it out of logs and version control.',
    '',
    'next:',
    `  baton serve${cfg}`,
    `  TOKEN=$(baton dev token --sub alice --scope "orders:read"${cfg})   # a user token from the dev IdP`,
    `  curl -s -u ${INIT_CLIENT_ID}:${secret} \\`,
    '    -d grant_type=urn:ietf:params:oauth:grant-type:token-exchange \\',
    '    -d requested_token_type=urn:ietf:params:oauth:token-type:txn_token \\',
    `    -d audience=${trustDomain} -d scope=orders:read \\`,
    '    -d subject_token_type=urn:ietf:params:oauth:token-type:access_token \\',
    `    --data-urlencode subject_token="$TOKEN" ${issuer}/token`,
    '',
    'before production: dev.idp: false, your IdP under subjectIssuers, your workloads under clients (private_key_jwt),',
    'policies deciding scopes, a redis:// store for more than one instance, and keys kept secret.',
  ].join('\n');
}

export async function initCommand(o: InitOptions, say: (s: string) => void = (s) => console.log(s)): Promise<number> {
  const dir = resolve(o.dir);
  const file = join(dir, 'baton.config.yaml');
  if (existsSync(file) && !o.force) throw new ConfigError(`${file} exists: nothing was written (baton init --force replaces it)`);
  const { issuer, port } = issuerAndPort(o);
  const secret = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(24)))).replace(/\+/g, '-').replace(/\//g, '_');
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, configText(issuer, port, o.trustDomain, await hashSecret(secret)), { mode: 0o644 });
  const keyLine = await ensureKey(join(dir, 'keys'));
  say(nextSteps(relative(process.cwd(), file) || file, issuer, o.trustDomain, keyLine, secret));
  return 0;
}
