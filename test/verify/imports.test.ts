/**
 * `baton-tts-verify` (src/verify/) is what downstream services and Workers import: its import graph must reach no Node-only module and
 * nothing of the server, the exchange pipeline, the CLI or the Node entry.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { importGraph } from '../helpers/import-graph.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const entry = join(root, 'src/verify/index.ts');
const NODE_BUILTINS = new Set(['fs', 'path', 'os', 'net', 'http', 'https', 'crypto', 'child_process', 'buffer', 'stream', 'url', 'util', 'tls', 'dns', 'zlib', 'worker_threads', 'events', 'process']);
const FORBIDDEN_PACKAGES = ['ioredis', '@hono/node-server'];

describe('the baton-tts-verify import graph', () => {
  const g = importGraph(root, entry);

  it('is the main entry of the baton-tts-verify package', () => {
    const map = JSON.parse(readFileSync(join(root, 'packaging/packages.json'), 'utf8')) as { packages: { name: string; exports: Record<string, unknown> }[] };
    const verify = map.packages.find((p) => p.name === 'baton-tts-verify');
    // Node gets the node:crypto signature backend; every other runtime (Workers) the Web Crypto one
    expect(verify?.exports['.']).toEqual({ node: 'verify/index.node.ts', default: 'verify/index.ts' });
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
