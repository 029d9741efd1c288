import { createHash } from 'node:crypto';
import { createEngine, type Engine } from '../policy/index.js';
import { readPolicies } from '../policy/fs.node.js';
import { engineScopePolicy } from './policy-scope.js';
import type { ScopePolicy } from './scope.js';

/** A compiled policy directory: the scope decision, the engine behind it, and a hash of what was read. */
export interface LoadedPolicySet {
  policy: ScopePolicy;
  engine: Engine;
  /** `sha256:<hex>` over the documents read (any edit changes it) */
  hash: string;
}

/**
 * Loads and compiles a policy directory; refused (PolicyLoadError, each issue with its file and path) when invalid.
 * Everything is built before anything is returned, so a caller can build a new set beside the one serving.
 */
export function loadPolicySet(dir: string, say: (m: string) => void): LoadedPolicySet {
  const sources = readPolicies(dir);
  const engine = createEngine({ policies: sources });
  const hash = `sha256:${createHash('sha256').update(JSON.stringify(sources)).digest('hex')}`;
  say(`policies: ${engine.policyCount} loaded from ${dir} (${hash.slice(0, 19)})`);
  return { policy: engineScopePolicy(engine), engine, hash };
}

/** Loads a policy directory (refused at load with file, path and message when invalid) as the scope decision. */
export async function loadScopePolicy(dir: string, say: (m: string) => void): Promise<ScopePolicy> {
  return loadPolicySet(dir, say).policy;
}
