// The rules of the house (ARCHITECTURE.md), checked on the source: code that must run on Cloudflare Workers uses no
// Node-only API, and the entry points downstream services install (verify, client) never pull in the server.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

const NODE_ALLOWED = (rel: string) =>
  rel === 'node.ts' || rel.startsWith('cli/') || rel === 'store/redis.ts' || rel.endsWith('.node.ts');

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+['"]([^'"]+)['"]/g)) out.push(m[1]!);
  for (const m of text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  return out;
}

const NODE_ONLY = /^(node:|fs$|path$|net$|os$|child_process$|ioredis$|@hono\/node-server)/;

describe('house rules', () => {
  const files = walk(src);

  it('only node.ts, cli/, the Redis backend and *.node.ts use Node-only modules or globals', () => {
    const offenders: string[] = [];
    for (const f of files) {
      const rel = relative(src, f);
      if (NODE_ALLOWED(rel)) continue;
      for (const i of importsOf(f)) if (NODE_ONLY.test(i)) offenders.push(`${rel} imports ${i}`);
      const text = readFileSync(f, 'utf8').replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
      if (/\bprocess\.(env|argv|exit|on)\b/.test(text)) offenders.push(`${rel} uses process`);
      if (/\bBuffer\./.test(text)) offenders.push(`${rel} uses Buffer`);
      for (const i of importsOf(f)) if (i.startsWith('.') && /\.node\.js$|\/node\.js$|\/cli\//.test(i)) offenders.push(`${rel} imports Node-only ${i}`);
    }
    expect(offenders).toEqual([]);
  });

  it('policy/ imports nothing else of Baton', () => {
    const offenders = files
      .filter((f) => relative(src, f).startsWith('policy/'))
      .flatMap((f) => importsOf(f).filter((i) => i.startsWith('.')).map((i) => ({ f, target: resolve(dirname(f), i) })))
      .filter(({ target }) => !relative(join(src, 'policy'), target).split('/').every((s) => s !== '..'))
      .map(({ f, target }) => `${relative(src, f)} -> ${relative(src, target)}`);
    expect(offenders).toEqual([]);
  });

  it('verify/ and client/ never reach server/, exchange/, cli/ or node.ts through their imports', () => {
    const forbidden = ['server/', 'exchange/', 'cli/', 'node.ts', 'config/load.node.ts'];
    for (const entry of ['verify/index.ts', 'client/index.ts']) {
      const start = join(src, entry);
      try {
        statSync(start);
      } catch {
        continue; // entry point not built yet
      }
      const seen = new Set<string>();
      const stack = [start];
      while (stack.length > 0) {
        const f = stack.pop()!;
        if (seen.has(f)) continue;
        seen.add(f);
        const rel = relative(src, f);
        expect(forbidden.some((x) => rel.startsWith(x)), `${entry} reaches ${rel}`).toBe(false);
        for (const i of importsOf(f)) {
          if (!i.startsWith('.')) continue;
          const t = resolve(dirname(f), i).replace(/\.js$/, '.ts');
          try {
            statSync(t);
            stack.push(t);
          } catch {
            /* not a source file */
          }
        }
      }
    }
  });
});
