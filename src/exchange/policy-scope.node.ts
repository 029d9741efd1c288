import { createEngine } from '../policy/index.js';
import { readPolicies } from '../policy/fs.node.js';
import { engineScopePolicy } from './policy-scope.js';
import type { ScopePolicy } from './scope.js';

/** Loads a policy directory (refused at load with file, path and message when invalid) as the scope decision. */
export async function loadScopePolicy(dir: string, say: (m: string) => void): Promise<ScopePolicy> {
  const engine = createEngine({ policies: readPolicies(dir) });
  say(`policies: ${engine.policyCount} loaded from ${dir}`);
  return engineScopePolicy(engine);
}
