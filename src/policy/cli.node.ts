// CLI glue for `baton policy test [DIR]` and `baton policy compile [DIR]` (Node only). Wire from src/cli/ with
// `process.exitCode = await policyTestCommand(argv)`. argv excludes the `baton policy test` words.
import { resolve } from 'node:path';
import { compilePolicies } from './compile.js';
import { PolicyLoadError } from './errors.js';
import { readPolicyDir } from './fs.node.js';
import { formatTestResults, runTestSuites } from './testrunner.js';

interface Args { dir: string; json: boolean; lenient: boolean; ignoreSchemas: boolean; run?: RegExp; help: boolean }

function parseArgs(argv: readonly string[]): Args {
  const a: Args = { dir: 'policies', json: false, lenient: false, ignoreSchemas: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i]!;
    if (x === '--output' || x === '-o') a.json = argv[++i] === 'json';
    else if (x === '--output=json' || x === '--json') a.json = true;
    else if (x.startsWith('--output=')) a.json = false;
    else if (x === '--lenient') a.lenient = true;
    else if (x === '--ignore-schemas') a.ignoreSchemas = true;
    else if (x === '--run') a.run = new RegExp(argv[++i] ?? '');
    else if (x === '-h' || x === '--help') a.help = true;
    else if (!x.startsWith('-')) a.dir = x;
    else throw new Error(`unknown option ${x}`);
  }
  return a;
}

// as `cerbos compile`: tests run with schema enforcement `reject` over the directory's _schemas/ (--ignore-schemas: none)
const USAGE_TEST = 'usage: baton policy test [DIR] [--output json|text] [--lenient] [--ignore-schemas] [--run REGEX]';
const USAGE_COMPILE = 'usage: baton policy compile [DIR] [--output json|text]';

/** Run the `*_test.yaml` suites under DIR. Returns the exit code: 0 all passed, 1 failures or load errors, 2 usage. */
export async function policyTestCommand(argv: readonly string[], out: (s: string) => void = (s) => process.stdout.write(s + '\n'), err: (s: string) => void = (s) => process.stderr.write(s + '\n')): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    err(`${(e as Error).message}\n${USAGE_TEST}`);
    return 2;
  }
  if (args.help) {
    out(USAGE_TEST);
    return 0;
  }
  try {
    const dir = readPolicyDir(resolve(args.dir));
    const results = runTestSuites({ policies: dir.policies, suites: dir.suites, testdata: dir.testdata, lenient: args.lenient, schemas: dir.schemas, schemaEnforcement: args.ignoreSchemas ? 'none' : 'reject', ...(args.run ? { filter: args.run } : {}) });
    out(args.json ? JSON.stringify(results, null, 2) : formatTestResults(results));
    return results.summary.overallResult === 'RESULT_PASSED' || results.summary.overallResult === 'RESULT_SKIPPED' ? 0 : 1;
  } catch (e) {
    if (e instanceof PolicyLoadError) {
      if (args.json) out(JSON.stringify({ errors: e.issues }, null, 2));
      else err(e.message);
      return 1;
    }
    err(`error: ${(e as Error).message}`);
    return 1;
  }
}

/** Load and compile every policy under DIR (no tests). Returns 0 if all compile, 1 otherwise. */
export async function policyCompileCommand(argv: readonly string[], out: (s: string) => void = (s) => process.stdout.write(s + '\n'), err: (s: string) => void = (s) => process.stderr.write(s + '\n')): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    err(`${(e as Error).message}\n${USAGE_COMPILE}`);
    return 2;
  }
  if (args.help) {
    out(USAGE_COMPILE);
    return 0;
  }
  try {
    const dir = readPolicyDir(resolve(args.dir));
    const set = compilePolicies(dir.policies, { schemas: dir.schemas });
    out(args.json ? JSON.stringify({ ok: true, policies: set.policyCount }) : `compiled ${set.policyCount} policies from ${dir.policies.length} files: OK`);
    return 0;
  } catch (e) {
    if (e instanceof PolicyLoadError) {
      if (args.json) out(JSON.stringify({ ok: false, errors: e.issues }, null, 2));
      else err(e.message);
      return 1;
    }
    err(`error: ${(e as Error).message}`);
    return 1;
  }
}
