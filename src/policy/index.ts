// Baton's embedded Cerbos-compatible policy engine (runs on Node and Cloudflare Workers). Policy text is JSON unless
// `yaml.ts` is loaded (it installs the YAML parser; `fs.node.ts` and `testrunner.ts` load it). The test-suite runner is
// its own entry (`testrunner.ts`); Node-only helpers live in `fs.node.ts` (reading directories) and `cli.node.ts`.
export { createEngine, type Engine, type EngineOptions } from './engine.js';
export { compilePolicies, parsePolicySources, type CompiledPolicySet } from './compile.js';
export { PolicyLoadError, PolicyInputError, type PolicyIssue } from './errors.js';
export type { SchemaEnforcement, ValidationError } from './schema-validation.js';
export { parsePolicyText, parseJsonDocuments, type ParsedDocument, type PolicyTextParser } from './documents.js';
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
// Query planning (Cerbos PlanResources): engine.plan, and what turns a plan into a data-layer filter.
export { PlanError } from './plan/errors.js';
export { planPredicate, PlanPredicateError, type PredicateOptions, type PredicateResource } from './plan/predicate.js';
export { planToSql, PlanSqlError, type SqlColumn, type SqlOptions, type SqlType, type SqlWhere } from './plan/sql.js';
export { filterToString, mergeWithAnd } from './plan/filter.js';
export type {
  JsonValue,
  PlanExpression,
  PlanFilter,
  PlanFilterKind,
  PlanInput,
  PlanOperand,
  PlanOptions,
  PlanResult,
  PlanRule,
} from './plan/types.js';
