// Issue 17: "no new dependency in the verifier package". What the IdP integration added (claim paths, introspection,
// discovery, oidc-provider) is reached neither by baton/verify nor by baton/client, and oidc-provider is a pinned
// development dependency only.
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const IMPORT = /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function graph(entry: string): { files: string[]; packages: string[] } {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const stack = [join(root, entry)];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const src = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
    for (const m of src.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2]!;
      if (spec.startsWith('.')) stack.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      else if (/^(node:)?(@[\w.-]+\/)?[\w.-]+(\/[\w./-]+)?$/.test(spec)) packages.add(spec); // (the regex also meets text in template strings)
    }
  }
  return { files: [...seen].map((f) => relative(root, f)).sort(), packages: [...packages].sort() };
}

const ISSUE_17_FILES = ['src/config/claim-path.ts', 'src/config/idp.ts', 'src/exchange/claims.ts', 'src/exchange/introspection.ts', 'src/exchange/discovery.ts', 'src/exchange/trusted-issuer.ts', 'src/exchange/bounded-read.ts'];

describe('the IdP integration stays out of what downstream services and workloads install', () => {
  for (const entry of ['src/verify/index.ts', 'src/verify/index.node.ts', 'src/client/index.ts']) {
    it(`${entry} reaches none of it, nor oidc-provider`, () => {
      const g = graph(entry);
      expect(g.files.filter((f) => ISSUE_17_FILES.includes(f) || f.startsWith('examples/'))).toEqual([]);
      expect(g.packages.filter((p) => /^(oidc-provider|koa)(\/|$)/.test(p))).toEqual([]);
    });
  }

  it('oidc-provider is a development dependency with an exact version that runs on Node 20', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    expect(pkg.dependencies['oidc-provider']).toBeUndefined();
    expect(pkg.devDependencies['oidc-provider']).toMatch(/^\d+\.\d+\.\d+$/);
    // 9.x warns "Use Node.js v22.x LTS" at import (its runtime check); 8.x is the line for Node 20
    expect(pkg.devDependencies['oidc-provider']!.startsWith('8.')).toBe(true);
    const installed = JSON.parse(readFileSync(join(root, 'node_modules/oidc-provider/package.json'), 'utf8')) as { version: string };
    expect(installed.version).toBe(pkg.devDependencies['oidc-provider']);
  });
});
