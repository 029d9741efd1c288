/**
 * `baton/verify` is what downstream services and Workers import: its import graph must reach no Node-only module and
 * nothing of the server, the exchange pipeline, the CLI or the Node entry.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const entry = join(root, 'src/verify/index.ts');
const IMPORT = /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
const NODE_BUILTINS = new Set(['fs', 'path', 'os', 'net', 'http', 'https', 'crypto', 'child_process', 'buffer', 'stream', 'url', 'util', 'tls', 'dns', 'zlib', 'worker_threads', 'events', 'process']);
const FORBIDDEN_PACKAGES = ['ioredis', '@hono/node-server'];

function walk(): { files: string[]; packages: Set<string>; edges: Array<[string, string]> } {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const edges: Array<[string, string]> = [];
  const stack = [entry];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const src = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
    for (const m of src.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2]!;
      if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
        edges.push([relative(root, file), relative(root, target)]);
        stack.push(target);
      } else packages.add(spec);
    }
  }
  return { files: [...seen].map((f) => relative(root, f)).sort(), packages, edges };
}

describe('the baton/verify import graph', () => {
  const g = walk();

  it('is the package entry ./verify', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, string> };
    // Node gets the node:crypto signature backend; every other runtime (Workers) the Web Crypto one
    expect(pkg.exports['./verify']).toEqual({ node: './src/verify/index.node.ts', default: './src/verify/index.ts' });
    expect(g.files).toContain('src/verify/verifier.ts');
  });

  it('reaches nothing of server/, exchange/, cli/, node.ts or any *.node.ts file', () => {
    const bad = g.files.filter((f) => /^src\/(server|exchange|cli)\//.test(f) || f === 'src/node.ts' || f.endsWith('.node.ts') || f === 'src/store/redis.ts');
    expect(bad, JSON.stringify(g.edges.filter(([, t]) => bad.includes(t)))).toEqual([]);
    for (const f of g.files) expect(f.startsWith('src/')).toBe(true);
  });

  it('imports no Node-only module', () => {
    const nodeOnly = [...g.packages].filter((p) => p.startsWith('node:') || NODE_BUILTINS.has(p) || FORBIDDEN_PACKAGES.some((f) => p === f || p.startsWith(`${f}/`)));
    expect(nodeOnly).toEqual([]);
  });

  it('uses no Node globals (process, Buffer, require) in the files it reaches', () => {
    const offenders: string[] = [];
    for (const f of g.files) {
      const src = readFileSync(join(root, f), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
      if (/\bprocess\.|\bBuffer\.|\brequire\(|__dirname/.test(src)) offenders.push(f);
    }
    expect(offenders).toEqual([]);
  });
});
