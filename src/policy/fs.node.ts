// Node-only: read policy files and test suites from a directory tree.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { PolicySource } from './types.js';
import './yaml.js'; // policy directories hold YAML: reading one installs the YAML parser

const POLICY_EXT = /\.(ya?ml|json)$/i;
const TEST_FILE = /_test\.(ya?ml|json)$/i;

export interface DirContents {
  /** Policy files (relative names). */
  policies: PolicySource[];
  /** Test suites: `*_test.yaml`, with their directory (relative, `/`-separated). */
  suites: PolicySource[];
  /** Every file under a `testdata/` folder, keyed by relative path (`/`-separated). */
  testdata: Map<string, string>;
  /** Files under the top-level `_schemas/` folder, keyed by path inside it (what `cerbos:///NAME` refs name). */
  schemas: Map<string, string>;
}

/** Read a directory tree the way `cerbos compile` does: dot-entries and `_schemas` are ignored. */
export function readPolicyDir(dir: string): DirContents {
  const out: DirContents = { policies: [], suites: [], testdata: new Map(), schemas: new Map() };
  const readSchemas = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      if (name.startsWith('.')) continue;
      const full = join(d, name);
      if (statSync(full).isDirectory()) readSchemas(full);
      else out.schemas.set(relative(join(dir, '_schemas'), full).split(sep).join('/'), readFileSync(full, 'utf8'));
    }
  };
  const walk = (d: string, inTestdata: boolean) => {
    for (const name of readdirSync(d).sort()) {
      if (name.startsWith('.')) continue;
      const full = join(d, name);
      const rel = relative(dir, full).split(sep).join('/');
      if (statSync(full).isDirectory()) {
        if (name === '_schemas') {
          if (d === dir) readSchemas(full);
          continue;
        }
        walk(full, inTestdata || name === 'testdata');
        continue;
      }
      if (!POLICY_EXT.test(name)) continue;
      const content = readFileSync(full, 'utf8');
      if (inTestdata) out.testdata.set(rel, content);
      else if (TEST_FILE.test(name)) out.suites.push({ name: rel, content });
      else out.policies.push({ name: rel, content });
    }
  };
  walk(dir, false);
  return out;
}

/**
 * The policy files of a directory tree, ready for `createEngine({ policies })`, followed by the JSON schemas of its
 * `_schemas/` folder as sources named `_schemas/NAME` (what `cerbos:///NAME` refs name; the loader compiles them).
 */
export function readPolicies(dir: string): PolicySource[] {
  const d = readPolicyDir(dir);
  const schemas = [...d.schemas].filter(([name]) => /\.json$/i.test(name)).map(([name, content]) => ({ name: `_schemas/${name}`, content }));
  return schemas.length === 0 ? d.policies : [...d.policies, ...schemas];
}
