// Issue 17: "no new dependency in the verifier package". What the IdP integration added (claim paths, introspection,
// discovery, oidc-provider) is reached neither by baton/verify nor by baton/client, and oidc-provider is a pinned
// development dependency only.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { importGraph } from '../helpers/import-graph.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const ISSUE_17_FILES = ['src/config/claim-path.ts', 'src/config/idp.ts', 'src/exchange/claims.ts', 'src/exchange/introspection.ts', 'src/exchange/discovery.ts', 'src/exchange/trusted-issuer.ts', 'src/exchange/bounded-read.ts'];

describe('the IdP integration stays out of what downstream services and workloads install', () => {
  for (const entry of ['src/verify/index.ts', 'src/verify/index.node.ts', 'src/client/index.ts']) {
    it(`${entry} reaches none of it, nor oidc-provider`, () => {
      const g = importGraph(root, entry);
      expect(g.files.filter((f) => ISSUE_17_FILES.includes(f) || f.startsWith('examples/'))).toEqual([]);
      expect([...g.packages].filter((p) => /^(oidc-provider|koa)(\/|$)/.test(p))).toEqual([]);
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
