/**
 * The frozen `now()` of the evaluation in progress. Evaluation is synchronous, so index.ts sets the instant before
 * evaluating a program and restores the previous one afterwards (re-entrancy safe). The instant is read from its
 * holder (a CelScope) only when `now()` is called: a scope makes its instant the first time it is asked, so checks
 * whose conditions never read the clock make no Date.
 */
export interface Instant {
  readonly now: Date;
}
let current: Instant | undefined;

export const NO_NOW_MESSAGE = 'now() is not available: no time was given for this evaluation';
/** Pass as the evaluation instant to make `now()` (and `timeSince()`) fail instead of reading the clock. */
export const NO_NOW: Date = new Date(Number.NaN);

export const clock = {
  now(): Date {
    if (!current) throw new Error('now() called outside an evaluation');
    const d = current.now;
    if (d === NO_NOW) throw new Error(NO_NOW_MESSAGE);
    return d;
  },
  swap(d: Instant | undefined): Instant | undefined {
    const prev = current;
    current = d;
    return prev;
  },
};
