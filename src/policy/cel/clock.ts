/**
 * The frozen `now()` of the evaluation in progress. Evaluation is synchronous, so index.ts sets the instant before
 * evaluating a program and restores the previous one afterwards (re-entrancy safe).
 */
let current: Date | undefined;

export const clock = {
  now(): Date {
    if (!current) throw new Error('now() called outside an evaluation');
    return current;
  },
  swap(d: Date | undefined): Date | undefined {
    const prev = current;
    current = d;
    return prev;
  },
};
