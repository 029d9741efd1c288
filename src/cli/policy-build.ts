// `baton policy build [DIR] --out FILE [--check]`: compiles a policy directory into one validated bundle (JSON) for
// runtimes without a file system (the Cloudflare Worker imports it). Wire from src/cli/main.ts (inside `case 'policy'`):
//   if (rest[0] === 'build') return await (await import('./policy-build.js')).policyBuildCommand(rest.slice(1));
// Also runnable directly: `tsx src/cli/policy-build.ts policies --out policies.bundle.json` (npm run build:worker).
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { PolicyLoadError } from '../policy/errors.js';
import { readPolicies } from '../policy/fs.node.js';
import { buildPolicyBundle, PolicyBundleError } from '../policy-bundle/index.js';

export const USAGE_BUILD = 'usage: baton policy build [DIR] --out FILE [--check]   (DIR defaults to policies, FILE to policies.bundle.json)';

interface BuildArgs {
  dir: string;
  out: string;
  check: boolean;
  help: boolean;
}

function parseArgs(argv: readonly string[]): BuildArgs {
  const a: BuildArgs = { dir: 'policies', out: 'policies.bundle.json', check: false, help: false };
  let dirSeen = false;
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i]!;
    if (x === '--out' || x === '-o') {
      const v = argv[++i];
      if (v === undefined || v.startsWith('-')) throw new Error('--out needs a file');
      a.out = v;
    } else if (x.startsWith('--out=')) a.out = x.slice('--out='.length);
    else if (x === '--check') a.check = true;
    else if (x === '-h' || x === '--help') a.help = true;
    else if (!x.startsWith('-') && !dirSeen) {
      a.dir = x;
      dirSeen = true;
    } else throw new Error(`unexpected argument ${x}`);
  }
  return a;
}

/**
 * Builds the bundle. Exit codes: 0 written (or, with --check, up to date), 1 invalid policies or a stale bundle
 * (--check), 2 usage. The file is written atomically (temp file + rename) so a Worker build never sees half a bundle.
 */
export async function policyBuildCommand(
  argv: readonly string[],
  out: (s: string) => void = (s) => process.stdout.write(s + '\n'),
  err: (s: string) => void = (s) => process.stderr.write(s + '\n'),
): Promise<number> {
  let args: BuildArgs;
  try {
    args = parseArgs(argv);
  } catch (e) {
    err(`${(e as Error).message}\n${USAGE_BUILD}`);
    return 2;
  }
  if (args.help) {
    out(USAGE_BUILD);
    return 0;
  }
  const dir = resolve(args.dir);
  const file = resolve(args.out);
  try {
    const sources = readPolicies(dir);
    const bundle = await buildPolicyBundle(sources, { source: relative(process.cwd(), dir).split('\\').join('/') || '.' });
    const text = JSON.stringify(bundle, null, 2) + '\n';
    if (args.check) {
      let current: string | undefined;
      try {
        current = readFileSync(file, 'utf8');
      } catch {
        current = undefined;
      }
      if (current !== text) {
        err(`${args.out}: out of date with ${args.dir} (run: baton policy build ${args.dir} --out ${args.out})`);
        return 1;
      }
      out(`${args.out}: up to date (${bundle.policyCount} policies, ${bundle.hash})`);
      return 0;
    }
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, text);
    renameSync(tmp, file);
    out(`built ${args.out}: ${bundle.policyCount} policies from ${sources.length} files in ${args.dir} (${bundle.hash}, ${text.length} bytes)`);
    return 0;
  } catch (e) {
    if (e instanceof PolicyLoadError || e instanceof PolicyBundleError) {
      err(e.message);
      return 1;
    }
    const code = (e as NodeJS.ErrnoException).code;
    err(`error: ${code === 'ENOENT' ? `${args.dir}: no such directory` : (e as Error).message}`);
    return 1;
  }
}

if (process.argv[1]?.endsWith('/cli/policy-build.ts') || import.meta.url === `file://${process.argv[1]}`) {
  void policyBuildCommand(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
