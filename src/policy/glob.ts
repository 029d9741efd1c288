// Cerbos-style globs for actions and resource kinds: `*` alone matches everything; otherwise `*` matches within a
// `:`-separated segment, `**` across segments, `?` one character, `{a,b}` alternatives.
export type Matcher = (s: string) => boolean;

const matchAll: Matcher = () => true;

export function isGlob(pattern: string): boolean {
  return /[*?{[]/.test(pattern);
}

export function compileGlob(pattern: string): Matcher {
  if (pattern === '*') return matchAll;
  if (!isGlob(pattern)) return (s) => s === pattern;
  let re = '^';
  let depth = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        re += '.*';
        i++;
      } else re += '[^:]*';
    } else if (c === '?') re += '[^:]';
    else if (c === '{') {
      re += '(?:';
      depth++;
    } else if (c === '}' && depth > 0) {
      re += ')';
      depth--;
    } else if (c === ',' && depth > 0) re += '|';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        let body = pattern.slice(i + 1, end);
        if (body.startsWith('!')) body = '^' + body.slice(1);
        re += '[' + body.replace(/\\/g, '\\\\') + ']';
        i = end;
      }
    } else re += c.replace(/[.+^$()|\\\]]/g, '\\$&');
  }
  while (depth-- > 0) re += ')';
  const rx = new RegExp(re + '$');
  return (s) => rx.test(s);
}

export function anyMatcher(patterns: readonly string[]): Matcher {
  if (patterns.includes('*')) return matchAll;
  const exact = new Set(patterns.filter((p) => !isGlob(p)));
  const globs = patterns.filter(isGlob).map(compileGlob);
  if (globs.length === 0) return (s) => exact.has(s);
  return (s) => exact.has(s) || globs.some((g) => g(s));
}
