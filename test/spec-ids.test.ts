/**
 * Every requirement of the Txn-Token profile (`../shared/spec/TXN-TOKENS.md`: T-, R-, V-, W- ids) is named by at least
 * one test of its own: an id in a test's title, not only inside a range (`R-01..R-06` names none of them). The titles
 * are read from the sources (`it`, `test`, `describe` with a literal title) of test/ and src/ (unit tests beside the code).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const spec = fileURLToPath(new URL('../../shared/spec/TXN-TOKENS.md', import.meta.url));
const ID = /\b[TRVW]-\d{2}\b/g;
/** `T-01..T-07`, `V-01 .. V-09`: a range, which names none of its ids */
const RANGE = /\b[TRVW]-\d{2}\s*\.\.\s*[TRVW]-\d{2}\b/g;
/** a test's title: the first argument of it/test/describe (and their .each/.skipIf/... forms), a literal string */
const TITLE = /\b(?:it|test|describe)(?:\.\w+(?:\([^()]*\))?)*\(\s*(['"`])((?:\\.|(?!\1)[^\\])*)\1/g;

function testFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (n === 'node_modules') return [];
    return statSync(p).isDirectory() ? testFiles(p) : p.endsWith('.test.ts') ? [p] : [];
  });
}

/** Every test title of the suite, with its file. */
function testTitles(): Array<{ file: string; title: string }> {
  const out: Array<{ file: string; title: string }> = [];
  for (const f of [...testFiles(join(root, 'test')), ...testFiles(join(root, 'src'))])
    for (const m of readFileSync(f, 'utf8').matchAll(TITLE)) out.push({ file: relative(root, f), title: m[2]! });
  return out;
}

/** The ids a title names on their own (ranges removed). */
function idsNamed(title: string): string[] {
  return title.replace(RANGE, ' ').match(ID) ?? [];
}

const present = existsSync(spec);
if (!present) console.warn(`[spec ids] SKIPPED: ${spec} is absent (CI fails instead: test/setup/shared.ts)`);

describe.skipIf(!present)('the Txn-Token profile (../shared/spec/TXN-TOKENS.md) is covered by name', () => {
  const ids = present ? [...new Set(readFileSync(spec, 'utf8').match(ID) ?? [])].sort() : [];
  const titles = testTitles();

  it('the spec has its requirement ids (T-, R-, V-, W-)', () => {
    expect(ids.length).toBeGreaterThan(40);
    for (const prefix of ['T-', 'R-', 'V-', 'W-']) expect(ids.some((i) => i.startsWith(prefix)), prefix).toBe(true);
  });

  it('each id is named by at least one test title of its own, not only inside a range', () => {
    const named = new Set(titles.flatMap((t) => idsNamed(t.title)));
    expect(ids.filter((i) => !named.has(i))).toEqual([]);
  });

  it('a range names no id, a list names each (the rule the check above applies)', () => {
    expect(idsNamed('T-01..T-05 T-15 exchanges a token')).toEqual(['T-15']);
    expect(idsNamed('R-02 R-04 tctx members are added, never changed')).toEqual(['R-02', 'R-04']);
    expect(idsNamed('V-01 .. V-09 the header')).toEqual([]);
  });
});
