// Baton's embedded Cerbos-compatible policy engine (runs on Node and Cloudflare Workers).
// Node-only helpers live in `fs.node.ts` (reading directories) and `cli.node.ts` (CLI glue).
export { createEngine, type Engine, type EngineOptions } from './engine.js';
export { compilePolicies, parsePolicySources, type CompiledPolicySet } from './compile.js';
export { PolicyLoadError, PolicyInputError, type PolicyIssue } from './errors.js';
export {
  runTestSuites,
  formatTestResults,
  type RunTestSuitesOptions,
  type TestResults,
  type SuiteResult,
  type TestSummary,
  type TestResult,
} from './testrunner.js';
export type {
  ActionEffect,
  AuxData,
  CheckInput,
  CheckOptions,
  CheckResult,
  ConsideredRule,
  ActionExplanation,
  DerivedRoleExplanation,
  Explanation,
  RuleOutcome,
  Effect,
  OutputEntry,
  PolicySource,
  Principal,
  Resource,
} from './types.js';
