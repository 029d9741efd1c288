// The `baton` command. Every command and subcommand is parsed by node:util parseArgs (strict: an unknown option is an
// error), answers -h/--help with exit 0 before doing anything else, and takes `--name value` or `--name=value`.
// Exit codes: 0 done, 1 failed (configuration, verification, policies), 2 usage.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_CONFIG_FILE, loadConfigFile, type LoadedConfig } from '../config/load.node.js';
import { ConfigError, trustDomainsOf } from '../config/schema.js';
import { hashSecret } from '../exchange/client-auth.js';
import { createDecisionLogger, drainStdoutLines } from '../log/index.js';
import { installNodeLineWriter } from '../log/sink.node.js';
import { devAccessToken, devAudiences } from '../dev-idp.js';
import { inspectToken } from './inspect.js';
import { generateKeyFile, loadDevIdpKey } from './keys.js';

class UsageError extends Error {}

interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** placeholder of the value in help */
  value?: string;
  description: string;
}

type Values = Record<string, string | boolean | undefined>;

interface Command {
  /** words after `baton`, e.g. `dev token` */
  name: string;
  /** one line: the command table and the overview */
  summary: string;
  /** the arguments part of the usage line */
  args: string;
  positionals?: { min: number; max: number };
  options: Record<string, OptionSpec>;
  /** more help lines */
  details?: string[];
  run(values: Values, positionals: string[]): Promise<number>;
}

const CONFIG_OPTION: OptionSpec = { type: 'string', value: 'FILE', description: `configuration file (default: $BATON_CONFIG, else ./${DEFAULT_CONFIG_FILE})` };

const str = (v: string | boolean | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

/** The configuration a command uses: --config, else $BATON_CONFIG, else ./baton.config.yaml; none at all points at `baton init`. */
function loadCliConfig(values: Values): LoadedConfig {
  const given = str(values['config']) ?? (process.env['BATON_CONFIG'] || undefined);
  if (given === undefined && !existsSync(DEFAULT_CONFIG_FILE))
    throw new ConfigError(
      `no configuration: ./${DEFAULT_CONFIG_FILE} does not exist (and no --config or BATON_CONFIG).\n` +
        `  baton init                    writes a starter configuration and a dev signing key here\n` +
        `  baton serve --config FILE     uses another file (or set BATON_CONFIG)`,
    );
  return loadConfigFile(given ?? DEFAULT_CONFIG_FILE);
}

function portNumber(text: string, what: string, min = 1): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isInteger(n) || n < min || n > 65535) throw new UsageError(`${what} must be a port number (${min}-65535), not ${JSON.stringify(text.slice(0, 20))}`);
  return n;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function version(): string {
  // build/cli/main.js (checkout) and dist/cli/main.js (package): ../../package.json is the package's own manifest
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if (typeof pkg.version === 'string' && (pkg.name === 'baton-tts' || pkg.name === 'baton')) return pkg.version;
    } catch {
      /* try the next */
    }
  }
  return 'unknown';
}


const COMMANDS: Command[] = [
  {
    name: 'init',
    summary: 'write a starter configuration and a dev signing key, and say what to do next',
    args: '[options]',
    options: {
      dir: { type: 'string', value: 'DIR', description: 'where to write baton.config.yaml and keys/ (default: .)' },
      port: { type: 'string', value: 'N', description: 'the port the TTS will serve on (default 8080)' },
      issuer: { type: 'string', value: 'URL', description: 'the issuer identifier (default http://127.0.0.1:PORT)' },
      'trust-domain': { type: 'string', value: 'NAME', description: 'the aud of the Txn-Tokens (default example.internal)' },
      force: { type: 'boolean', description: 'overwrite an existing baton.config.yaml' },
    },
    details: ['Writes a development setup: memory store, the local dev IdP (dev.idp: true), one client with a generated secret', '(only its hash is written; the secret is printed once). Nothing else is touched.'],
    async run(v) {
      const { initCommand } = await import('./init.js');
      return initCommand({
        dir: str(v['dir']) ?? '.',
        port: portNumber(str(v['port']) ?? '8080', '--port'),
        issuer: str(v['issuer']),
        trustDomain: str(v['trust-domain']) ?? 'example.internal',
        force: v['force'] === true,
        portGiven: v['port'] !== undefined,
      });
    },
  },
  {
    name: 'serve',
    summary: 'run the TTS (Token Exchange endpoint, metadata, JWKS, revocation)',
    args: '[options]',
    options: {
      config: CONFIG_OPTION,
      port: { type: 'string', value: 'N', description: 'listen on this port instead of the configured one (also $PORT)' },
      host: { type: 'string', value: 'HOST', description: 'listen on this address instead of the configured one' },
      watch: { type: 'boolean', description: 'reload policies and signing keys when their files change (development; SIGHUP reloads too)' },
    },
    details: [
      'SIGHUP reloads the policies and the signing keys without a restart: the new set is compiled beside the old one and',
      'swapped in; an invalid set is refused (logged with file and field, shown by /readyz) and the old one keeps serving.',
      'The metadata advertises the issuer (or baseUrl). When that is an http URL on this machine, the server listens on its',
      'port or refuses to start saying why. Decisions are JSON lines on stdout (BATON_DECISION_LOG=off silences them).',
    ],
    async run(v) {
      const portText = str(v['port']) ?? (process.env['PORT'] || undefined);
      const port = portText === undefined ? undefined : portNumber(portText, str(v['port']) !== undefined ? '--port' : 'PORT');
      const host = str(v['host']);
      const loaded = loadCliConfig(v);
      const { startNode, drainServer } = await import('../node.js');
      const decisions = process.env['BATON_DECISION_LOG'] !== 'off';
      installNodeLineWriter(); // decision lines on stdout: batched asynchronous writes, bounded (src/log/sink.node.ts)
      const node = await startNode({
        loaded,
        ...(port !== undefined ? { port } : {}),
        ...(host !== undefined ? { host } : {}),
        watch: v['watch'] === true,
        // the TTS's lines are rendered by baton/log, as every hop's: scrubbed, bounded, one line each, written to stdout
        // by the log's non-blocking sink (a decision never waits for the terminal or the pipe)
        ...(decisions ? { onDecision: createDecisionLogger().sink } : {}),
      });
      console.error(`baton: TTS ${node.config.issuer} serving on ${node.url} (trust domains: ${trustDomainsOf(node.config).join(', ')}; store: ${node.store.backend})`);
      // Graceful shutdown: the first SIGTERM/SIGINT drains (at most drainTimeoutSeconds, then whatever is left is
      // closed), a second one ends the drain at once. Start and end of the drain are logged; the exit code is 0 either way.
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
          .finally(() => {
            // decision lines still queued are written before the process ends
            const late = new Promise<void>((r) => setTimeout(r, 2000).unref());
            void Promise.race([drainStdoutLines(), late]).finally(() => process.exit(0));
          });
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGHUP', () => {
        void node.serving.reload('SIGHUP');
        // the decision point mounted beside the TTS (pdp.mount) reads its policies again too; a failed load keeps its set
        node.pdp?.reload().catch((e: unknown) => console.error(`baton: pdp reload failed, the current policies stay: ${(e as Error).message.split('\n')[0]}`));
      });
      return new Promise<number>(() => {});
    },
  },
  {
    name: 'pdp',
    summary: 'run the decision point alone: the Cerbos HTTP API, AuthZEN 1.0 and forward auth over the policies',
    args: '--policies DIR [options]',
    options: {
      policies: { type: 'string', value: 'DIR', description: 'the policy directory (or policies: in --config)' },
      config: { type: 'string', value: 'FILE', description: 'the decision point\'s settings (txnToken, scopes, routes, auxData, ...)' },
      port: { type: 'string', value: 'N', description: 'listen on this port (default 3592, as cerbos server)' },
      host: { type: 'string', value: 'HOST', description: 'listen on this address (default 127.0.0.1)' },
      'schema-enforcement': { type: 'string', value: 'none|warn|reject', description: "validate attributes against the policies' JSON schemas (Cerbos's schema.enforcement; default none)" },
    },
    details: ['SIGHUP reloads the policies (the old ones stay when the new ones do not load). Decisions are JSON lines on stdout.'],
    async run(v) {
      const { pdpCommand } = await import('./pdp.js');
      const port = str(v['port']);
      return pdpCommand({ config: str(v['config']), policies: str(v['policies']), port: port === undefined ? undefined : portNumber(port, '--port', 0), host: str(v['host']), schemaEnforcement: str(v['schema-enforcement']) });
    },
  },
  {
    name: 'keys generate',
    summary: 'write a new private signing key (the newest key signs; older ones stay published)',
    args: '[options]',
    options: {
      alg: { type: 'string', value: 'ALG', description: 'EdDSA (default) or ES256' },
      dir: { type: 'string', value: 'DIR', description: "where to write it (default: the configuration's keys directory, else ./keys)" },
      config: CONFIG_OPTION,
    },
    async run(v) {
      const alg = str(v['alg']) ?? 'EdDSA';
      if (alg !== 'EdDSA' && alg !== 'ES256') throw new UsageError('--alg must be EdDSA or ES256');
      let dir = str(v['dir']);
      if (dir === undefined) {
        const explicit = str(v['config']) ?? (process.env['BATON_CONFIG'] || undefined);
        if (explicit !== undefined || existsSync(DEFAULT_CONFIG_FILE)) {
          const l = loadCliConfig(v);
          dir = l.resolvePath(l.config.keys);
        } else dir = 'keys';
      }
      const { kid, file } = await generateKeyFile(dir, alg);
      console.log(`generated ${alg} signing key ${kid} at ${file} (the newest key signs; older keys stay published for verification)`);
      return 0;
    },
  },
  {
    name: 'dev token',
    summary: 'print a user access token from the local dev IdP (configurations with dev.idp: true)',
    args: '--sub ID --scope "S1 S2" [options]',
    options: {
      sub: { type: 'string', value: 'ID', description: 'the user (required)' },
      scope: { type: 'string', value: 'SCOPES', description: 'space-separated scopes (required)' },
      roles: { type: 'string', value: 'R1,R2', description: 'roles claim (default user)' },
      aud: { type: 'string', value: 'AUD', description: "audience (default: the first client's first subjectAudiences entry)" },
      ttl: { type: 'string', value: 'SECONDS', description: 'lifetime, 1-86400 (default 600)' },
      config: CONFIG_OPTION,
    },
    async run(v) {
      const sub = str(v['sub']);
      const scope = str(v['scope']);
      if (sub === undefined || scope === undefined) throw new UsageError('--sub and --scope are required');
      const ttlText = str(v['ttl']) ?? '600';
      const ttl = Number(ttlText);
      if (!/^\d+$/.test(ttlText) || ttl <= 0 || ttl > 86400) throw new UsageError('--ttl must be seconds between 1 and 86400');
      const l = loadCliConfig(v);
      if (!l.config.dev.idp) throw new ConfigError(`${l.file}: dev.idp is false: this configuration does not trust the dev IdP`);
      const aud = str(v['aud']) ?? devAudiences(l.config)[0]!;
      const roles = (str(v['roles']) ?? 'user').split(',').map((r) => r.trim()).filter((r) => r.length > 0);
      const { privateJwk } = await loadDevIdpKey(l.resolvePath(l.config.keys));
      console.log(await devAccessToken(privateJwk, { sub, scope, roles, aud, ttl }));
      return 0;
    },
  },
  {
    name: 'dev worker',
    summary: 'write .dev.vars for `wrangler dev`: keys, dev IdP, client secrets, a local configuration',
    args: '[options]',
    options: {
      config: CONFIG_OPTION,
      out: { type: 'string', value: 'FILE', description: 'where (default .dev.vars, next to wrangler.toml)' },
      port: { type: 'string', value: 'N', description: 'the port wrangler dev serves on: the local issuer (default 8787)' },
      force: { type: 'boolean', description: 'replace an existing file (default: keep it)' },
    },
    details: [
      'The Worker gets the same clients, trust domains and policies as this configuration, issuer http://127.0.0.1:PORT,',
      "the signing keys of its keys directory and the dev IdP's public key, so `baton dev token` tokens exchange there too.",
      '`npm run dev:worker` runs this, then wrangler dev.',
    ],
    async run(v) {
      const port = portNumber(str(v['port']) ?? '8787', '--port');
      const l = loadCliConfig(v);
      const { devWorkerCommand } = await import('./dev-worker.js');
      return devWorkerCommand({ loaded: l, out: str(v['out']) ?? '.dev.vars', port, force: v['force'] === true });
    },
  },
  {
    name: 'token inspect',
    summary: 'show the header, claims and workload chain of a JWT (never its signature); verify with --jwks or --config',
    args: 'JWT [options]',
    positionals: { min: 1, max: 1 },
    options: {
      jwks: { type: 'string', value: 'FILE|URL', description: 'verify against this JWKS (file or URL)' },
      config: { type: 'string', value: 'FILE', description: 'verify with the keys, trust domains and issuer of this TTS configuration' },
    },
    async run(v, [jwtArg]) {
      return inspectToken(jwtArg!.trim(), { jwks: str(v['jwks']), config: str(v['config']) });
    },
  },
  {
    name: 'policy test',
    summary: 'run the *_test.yaml policy suites of a directory',
    args: '[DIR] [options]',
    positionals: { min: 0, max: 1 },
    options: {
      output: { type: 'string', value: 'FORMAT', description: 'text (default) or json' },
      lenient: { type: 'boolean', description: "Cerbos's default evaluation (a condition that errors is false) instead of strict" },
      run: { type: 'string', value: 'REGEX', description: 'only the tests whose name matches' },
    },
    details: ['DIR defaults to ./policies.'],
    async run(v, [dir]) {
      const argv = [dir ?? 'policies', '--output', outputFormat(v)];
      if (v['lenient'] === true) argv.push('--lenient');
      const run = str(v['run']);
      if (run !== undefined) {
        try {
          new RegExp(run);
        } catch {
          throw new UsageError('--run must be a regular expression');
        }
        argv.push('--run', run);
      }
      const { policyTestCommand } = await import('../policy/cli.node.js');
      return policyTestCommand(argv);
    },
  },
  {
    name: 'policy compile',
    summary: 'validate and compile the policies of a directory (no tests)',
    args: '[DIR] [options]',
    positionals: { min: 0, max: 1 },
    options: { output: { type: 'string', value: 'FORMAT', description: 'text (default) or json' } },
    details: ['DIR defaults to ./policies.'],
    async run(v, [dir]) {
      const { policyCompileCommand } = await import('../policy/cli.node.js');
      return policyCompileCommand([dir ?? 'policies', '--output', outputFormat(v)]);
    },
  },
  {
    name: 'policy build',
    summary: 'compile a policy directory into one bundle (JSON) for Cloudflare Workers',
    args: '[DIR] [options]',
    positionals: { min: 0, max: 1 },
    options: {
      out: { type: 'string', short: 'o', value: 'FILE', description: 'the bundle (default policies.bundle.json)' },
      check: { type: 'boolean', description: 'write nothing; exit 1 when FILE is not what DIR builds' },
    },
    details: ['DIR defaults to ./policies.'],
    async run(v, [dir]) {
      const { policyBuildCommand } = await import('./policy-build.js');
      return policyBuildCommand({ dir: dir ?? 'policies', out: str(v['out']) ?? 'policies.bundle.json', check: v['check'] === true });
    },
  },
  {
    name: 'secret hash',
    summary: 'print the sha256: form of a client secret, for the configuration',
    args: '[SECRET]',
    positionals: { min: 0, max: 1 },
    options: {},
    details: ['Without SECRET, reads it from stdin (keeps it out of the process list and the shell history):', '  printf %s "$SECRET" | baton secret hash'],
    async run(_v, [secretArg]) {
      let secret = secretArg;
      if (secret === undefined) {
        if (process.stdin.isTTY) throw new UsageError('give SECRET, or pipe it on stdin');
        secret = (await readStdin()).replace(/\r?\n$/, '');
      }
      if (secret.length === 0) throw new UsageError('the secret is empty');
      console.log(await hashSecret(secret));
      return 0;
    },
  },
];

function outputFormat(v: Values): 'json' | 'text' {
  const o = str(v['output']) ?? 'text';
  if (o !== 'json' && o !== 'text') throw new UsageError('--output must be text or json');
  return o;
}

/** Command groups: `baton keys`, `baton dev`, ... with their subcommands. */
const GROUPS = [...new Set(COMMANDS.filter((c) => c.name.includes(' ')).map((c) => c.name.split(' ')[0]!))];

function optionLines(options: Record<string, OptionSpec>): string[] {
  const rows = Object.entries(options).map(([name, o]) => [`${o.short !== undefined ? `-${o.short}, ` : ''}--${name}${o.value !== undefined ? ` ${o.value}` : ''}`, o.description] as const);
  rows.push(['-h, --help', 'show this help']);
  const w = Math.max(...rows.map(([l]) => l.length));
  return rows.map(([l, d]) => `  ${l.padEnd(w)}  ${d}`);
}

function commandHelp(c: Command): string {
  const details = c.details !== undefined ? ['', ...c.details] : [];
  return [`usage: baton ${c.name} ${c.args}`.trimEnd(), '', `${c.summary[0]!.toUpperCase()}${c.summary.slice(1)}.`, ...details, '', 'options:', ...optionLines(c.options)].join('\n');
}

function overview(): string {
  const w = Math.max(...COMMANDS.map((c) => `${c.name} ${c.args}`.length));
  return [
    'baton: Transaction Token Service with an embedded policy engine',
    '',
    'usage: baton COMMAND [options]     baton COMMAND --help     baton --version',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${`${c.name} ${c.args}`.padEnd(w)}  ${c.summary}`),
  ].join('\n');
}

function groupHelp(group: string): string {
  const subs = COMMANDS.filter((c) => c.name.startsWith(`${group} `));
  const w = Math.max(...subs.map((c) => `${c.name} ${c.args}`.length));
  return [`usage: baton ${group} SUBCOMMAND [options]`, '', 'subcommands:', ...subs.map((c) => `  ${`${c.name} ${c.args}`.padEnd(w)}  ${c.summary}`), '', `baton ${group} SUBCOMMAND --help shows one.`].join('\n');
}

const isHelp = (a: string | undefined) => a === '--help' || a === '-h';

/** Finds the command of argv: its spec and the remaining arguments, or a help/usage answer. */
function locate(argv: readonly string[]): { command: Command; rest: string[]; name: string } | { exit: number; out?: string; err?: string } {
  const [first, second] = argv;
  if (first === undefined) return { exit: 2, err: overview() };
  if (isHelp(first)) return { exit: 0, out: overview() };
  if (first === '--version' || first === '-v') return { exit: 0, out: version() };
  if (first === 'help') {
    const words = argv.slice(1).filter((a) => !a.startsWith('-')).join(' ');
    if (words === '') return { exit: 0, out: overview() };
    const c = COMMANDS.find((x) => x.name === words);
    if (c !== undefined) return { exit: 0, out: commandHelp(c) };
    if (GROUPS.includes(words)) return { exit: 0, out: groupHelp(words) };
    return { exit: 2, err: `baton help: no command ${JSON.stringify(words)}\n\n${overview()}` };
  }
  if (GROUPS.includes(first)) {
    if (second === undefined) return { exit: 2, err: `baton ${first}: a subcommand is needed\n\n${groupHelp(first)}` };
    if (isHelp(second)) return { exit: 0, out: groupHelp(first) };
    const c = COMMANDS.find((x) => x.name === `${first} ${second}`);
    if (c === undefined) return { exit: 2, err: `baton ${first}: unknown subcommand ${JSON.stringify(second.slice(0, 40))}\n\n${groupHelp(first)}` };
    return { command: c, rest: argv.slice(2), name: c.name };
  }
  const c = COMMANDS.find((x) => x.name === first);
  if (c === undefined) return { exit: 2, err: `baton: unknown command ${JSON.stringify(first.slice(0, 40))}\n\n${overview()}` };
  return { command: c, rest: argv.slice(1), name: c.name };
}

export async function main(argv: readonly string[]): Promise<number> {
  const found = locate(argv);
  if ('exit' in found) {
    if (found.out !== undefined) console.log(found.out);
    if (found.err !== undefined) console.error(found.err);
    return found.exit;
  }
  const { command, rest } = found;
  // --help wins over everything else before a `--` (and nothing runs)
  const beforeDashes = rest.indexOf('--') >= 0 ? rest.slice(0, rest.indexOf('--')) : rest;
  if (beforeDashes.some(isHelp)) {
    console.log(commandHelp(command));
    return 0;
  }
  try {
    let parsed;
    try {
      parsed = parseArgs({
        args: [...rest],
        options: Object.fromEntries(Object.entries(command.options).map(([k, o]) => [k, o.short !== undefined ? { type: o.type, short: o.short } : { type: o.type }])),
        allowPositionals: command.positionals !== undefined,
        strict: true,
      });
    } catch (e) {
      throw new UsageError((e as Error).message.split('\n')[0]!.replace(/\. To specify a positional argument.*$/, ''));
    }
    const pos = parsed.positionals;
    const p = command.positionals ?? { min: 0, max: 0 };
    if (pos.length < p.min) throw new UsageError(`missing argument: ${command.args.split(' ')[0]}`);
    if (pos.length > p.max) throw new UsageError(`unexpected argument ${JSON.stringify(pos[p.max]!.slice(0, 40))}`);
    return await command.run(parsed.values as Values, pos);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`baton ${command.name}: ${e.message}\n(baton ${command.name} --help shows the options)`);
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

/** The command table (name, arguments, summary): the README's table of commands is checked against it. */
export function commandTable(): { command: string; summary: string }[] {
  return COMMANDS.map((c) => ({ command: `baton ${c.name} ${c.args}`.trimEnd(), summary: c.summary }));
}

// `tsx src/cli/main.ts ...` (tests and development): run directly. Installed, src/cli/bin.ts is the entry.
if (process.argv[1] !== undefined && resolve(process.argv[1]).endsWith('/cli/main.ts')) {
  void main(process.argv.slice(2)).then((code) => {
    if (code !== 0 || process.argv[2] !== 'serve') process.exitCode = code;
  });
}
