/** The import graph of a source file, by reading imports (tests of what an entry point pulls in). */
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';

const IMPORT = /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

export interface ImportGraph {
  /** files reached, relative to `root`, sorted */
  files: string[];
  /** bare specifiers imported (packages, node: modules) */
  packages: Set<string>;
  edges: Array<[string, string]>;
}

/** The specifiers a source file imports (static, dynamic, `import type` and re-exports), comments ignored. */
export function importsOf(file: string): string[] {
  const src = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  return [...src.matchAll(IMPORT)].map((m) => m[1] ?? m[2]!);
}

export function importGraph(root: string, entry: string): ImportGraph {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const edges: Array<[string, string]> = [];
  const stack = [resolve(root, entry)];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const spec of importsOf(file)) {
      if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
        edges.push([relative(root, file), relative(root, target)]);
        stack.push(target);
      } else packages.add(spec);
    }
  }
  return { files: [...seen].map((f) => relative(root, f)).sort(), packages, edges };
}
