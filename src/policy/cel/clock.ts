/**
 * The frozen `now()` of the evaluation in progress. Evaluation is synchronous, so index.ts sets the instant before
 * evaluating a program and restores the previous one afterwards (re-entrancy safe).
 */
let current: Date | undefined;

export const NO_NOW_MESSAGE = 'now() is not available: no time was given for this evaluation';
/** Pass as the evaluation instant to make `now()` (and `timeSince()`) fail instead of reading the clock. */
export const NO_NOW: Date = new Date(Number.NaN);

export const clock = {
  now(): Date {
    if (!current) throw new Error('now() called outside an evaluation');
    if (current === NO_NOW) throw new Error(NO_NOW_MESSAGE);
    return current;
  },
  swap(d: Date | undefined): Date | undefined {
    const prev = current;
    current = d;
    return prev;
  },
};
