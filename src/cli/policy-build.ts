// `baton policy build [DIR] --out FILE [--check]`: compiles a policy directory into one validated bundle (JSON) for
// runtimes without a file system (the Cloudflare Worker imports it). The arguments are parsed by src/cli/main.ts.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { PolicyLoadError } from '../policy/errors.js';
import { readPolicies } from '../policy/fs.node.js';
import { buildPolicyBundle, PolicyBundleError } from '../policy-bundle/index.js';

export interface BuildArgs {
  /** the policy directory */
  dir: string;
  /** the bundle file */
  out: string;
  /** write nothing; fail when `out` is not what `dir` builds */
  check: boolean;
}

/**
 * Builds the bundle. Exit codes: 0 written (or, with --check, up to date), 1 invalid policies or a stale bundle
 * (--check). The file is written atomically (temp file + rename) so a Worker build never sees half a bundle.
 */
export async function policyBuildCommand(
  args: BuildArgs,
  out: (s: string) => void = (s) => process.stdout.write(s + '\n'),
  err: (s: string) => void = (s) => process.stderr.write(s + '\n'),
): Promise<number> {
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
