/** One problem found while loading policies: which file, where in it (dotted path), what is wrong. */
export interface PolicyIssue {
  readonly file: string;
  readonly path: string;
  readonly message: string;
}

/** Thrown by createEngine/loadPolicies when any policy file is invalid. Nothing is loaded partially. */
export class PolicyLoadError extends Error {
  override readonly name = 'PolicyLoadError';
  readonly code = 'policy_load_error';
  constructor(readonly issues: readonly PolicyIssue[]) {
    super(
      `${issues.length} policy error(s):\n` +
        issues.map((i) => `  ${i.file}${i.path ? ` (${i.path})` : ''}: ${i.message}`).join('\n'),
    );
  }
}

/** Thrown by check()/checkBatch() when the principal, resource or actions are malformed. */
export class PolicyInputError extends Error {
  override readonly name = 'PolicyInputError';
  readonly code = 'invalid_policy_input';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}
