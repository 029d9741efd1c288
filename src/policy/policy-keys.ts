// The names Cerbos gives policies (`resource.ticket.vdefault/acme`) and the scope chain, in one place: the loader
// names what it compiles with them, the index answers by them, and decisions report them.

// Names in policy keys are written the way Cerbos writes them: a name of the pre-0.30 shape (letters first, then word
// characters, `@ . - /`, in `:`-separated parts) has every run of characters other than word characters and `.`
// replaced by `_` (`album:object` -> `album_object`); any other name is kept as it is.
const OLD_NAME = /^[A-Za-z][\w@.\-/]*(:[A-Za-z][\w@.\-/]*)*$/;
const sanitize = (v: string) => (OLD_NAME.test(v) ? v.replace(/[^\w.]+/g, '_') : v);

/** A scope and its ancestors, most specific first, ending with the root scope `""` (`a.b` → `a.b`, `a`, ``). */
export function scopeChain(scope: string): string[] {
  const out = [scope];
  let s = scope;
  while (s) {
    const i = s.lastIndexOf('.');
    s = i < 0 ? '' : s.slice(0, i);
    out.push(s);
  }
  return out;
}

export function resourcePolicyKey(kind: string, version: string, scope: string): string {
  return `resource.${sanitize(kind)}.v${sanitize(version)}${scope ? `/${scope}` : ''}`;
}
export function principalPolicyKey(id: string, version: string, scope: string): string {
  return `principal.${sanitize(id)}.v${sanitize(version)}${scope ? `/${scope}` : ''}`;
}
export function rolePolicyKey(role: string, version: string, scope: string): string {
  return `role.${sanitize(role)}.v${sanitize(version)}${scope ? `/${scope}` : ''}`;
}
