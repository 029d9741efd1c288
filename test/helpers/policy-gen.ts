// Random inputs for the differential tests against Cerbos: a seeded PRNG and principals/resources/actions drawn from the
// vocabulary of a policy set (kinds, roles, actions, attribute names, literals, scopes, versions) plus unknown values.
import { parseAllDocuments, stringify } from 'yaml';
import type { PolicySource, Principal } from '../../src/policy/types.js';

// ---------------------------------------------------------------- seeded randomness
export function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T,>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const chance = (p: number) => next() < p;
  const some = <T,>(xs: readonly T[], min: number, max: number): T[] => {
    const want = min + int(max - min + 1);
    const out = new Set<T>();
    for (let i = 0; i < want * 4 && out.size < want; i++) out.add(pick(xs));
    return [...out];
  };
  return { next, int, pick, chance, some };
}
export type Rng = ReturnType<typeof prng>;

// ---------------------------------------------------------------- vocabulary of a policy set
export interface Vocab {
  kinds: string[];
  versions: string[];
  scopes: string[];
  principalIds: string[];
  roles: string[];
  derivedRoles: string[];
  actions: string[];
  actionPatterns: string[];
  /** attribute name -> sub-keys seen (`P.attr.tags.brand` gives tags -> {brand}) */
  pAttrs: Map<string, Set<string>>;
  rAttrs: Map<string, Set<string>>;
  strings: string[];
  numbers: number[];
}

export function vocabulary(sources: readonly PolicySource[]): Vocab {
  const kinds = new Set<string>();
  const versions = new Set<string>(['default']);
  const scopes = new Set<string>(['']);
  const principalIds = new Set<string>();
  const roles = new Set<string>();
  const derivedRoles = new Set<string>();
  const actions = new Set<string>();
  const patterns = new Set<string>();
  const pAttrs = new Map<string, Set<string>>();
  const rAttrs = new Map<string, Set<string>>();
  const strings = new Set<string>();
  const numbers = new Set<number>();
  const addAttr = (m: Map<string, Set<string>>, name: string, sub?: string) => {
    const s = m.get(name) ?? new Set<string>();
    if (sub) s.add(sub);
    m.set(name, s);
  };
  const addAction = (a: unknown) => {
    if (typeof a !== 'string' || a === '*') return;
    (a.includes('*') ? patterns : actions).add(a);
  };
  const addRoles = (rs: unknown) => {
    if (Array.isArray(rs)) for (const r of rs) if (typeof r === 'string' && r !== '*') roles.add(r);
  };
  const addKind = (k: unknown) => {
    if (typeof k === 'string' && !k.includes('*')) kinds.add(k);
  };
  const addVersionScope = (p: Record<string, unknown>) => {
    if (typeof p.version === 'string') versions.add(p.version);
    if (typeof p.scope === 'string') scopes.add(p.scope);
  };
  const scanText = (s: string) => {
    const attr = /(?:\b[PR]|request\.(?:principal|resource))\.attr\.([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*))?/g;
    for (const m of s.matchAll(attr)) {
      const isP = m[0].startsWith('P') || m[0].startsWith('request.principal');
      const sub = m[2] && !/^(exists|all|map|filter|contains|startsWith|endsWith|matches|size|inIPAddrRange|exists_one|lowerAscii|upperAscii|split|ancestorOf|descendentOf|immediateChildOf|immediateParentOf|overlaps|siblingOf|timeSince|getHours|getFullYear|getMonth|getDayOfWeek)$/.test(m[2]) ? m[2] : undefined;
      addAttr(isP ? pAttrs : rAttrs, m[1]!, sub);
    }
    for (const m of s.matchAll(/"(\w+)"\s+in\s+(?:[PR]|request\.(?:principal|resource))\.attr\b/g)) {
      addAttr(/^(P|request\.principal)/.test(m[0].split(/\s+in\s+/)[1]!) ? pAttrs : rAttrs, m[1]!);
    }
    for (const m of s.matchAll(/"([^"\\\n]{1,40})"|'([^'\\\n]{1,40})'/g)) strings.add((m[1] ?? m[2])!);
    for (const m of s.matchAll(/(?<![\w.])(-?\d+(?:\.\d+)?)(?![\w.])/g)) {
      const n = Number(m[1]);
      if (Number.isFinite(n) && Math.abs(n) < 1e9) numbers.add(n);
    }
  };
  const walkStrings = (v: unknown, f: (s: string) => void) => {
    if (typeof v === 'string') f(v);
    else if (Array.isArray(v)) v.forEach((x) => walkStrings(x, f));
    else if (v && typeof v === 'object') Object.values(v).forEach((x) => walkStrings(x, f));
  };

  for (const src of sources) {
    for (const doc of parseAllDocuments(src.content)) {
      const d = doc.toJS() as Record<string, unknown> | null;
      if (!d || typeof d !== 'object') continue;
      walkStrings(d, scanText);
      const rp = d.resourcePolicy as Record<string, unknown> | undefined;
      if (rp) {
        addKind(rp.resource);
        addVersionScope(rp);
        for (const r of (rp.rules as Record<string, unknown>[] | undefined) ?? []) {
          (r.actions as unknown[] | undefined)?.forEach(addAction);
          addRoles(r.roles);
        }
      }
      const dr = d.derivedRoles as Record<string, unknown> | undefined;
      if (dr) {
        for (const def of (dr.definitions as Record<string, unknown>[] | undefined) ?? []) {
          if (typeof def.name === 'string') derivedRoles.add(def.name);
          addRoles(def.parentRoles);
        }
      }
      const pp = d.principalPolicy as Record<string, unknown> | undefined;
      if (pp) {
        if (typeof pp.principal === 'string') principalIds.add(pp.principal);
        addVersionScope(pp);
        for (const r of (pp.rules as Record<string, unknown>[] | undefined) ?? []) {
          addKind(r.resource);
          for (const a of (r.actions as Record<string, unknown>[] | undefined) ?? []) addAction(a.action);
        }
      }
      const rl = d.rolePolicy as Record<string, unknown> | undefined;
      if (rl) {
        addRoles([rl.role]);
        addRoles(rl.parentRoles);
        addVersionScope(rl);
        for (const r of (rl.rules as Record<string, unknown>[] | undefined) ?? []) {
          addKind(r.resource);
          (r.allowActions as unknown[] | undefined)?.forEach(addAction);
        }
      }
      for (const key of ['exportConstants', 'constants']) {
        const c = (d[key] as Record<string, unknown> | undefined)?.definitions;
        walkStrings(c, (s) => s.length <= 40 && strings.add(s));
      }
    }
  }
  return {
    kinds: [...kinds].sort(),
    versions: [...versions].sort(),
    scopes: [...scopes].sort(),
    principalIds: [...principalIds].sort(),
    roles: [...roles].sort(),
    derivedRoles: [...derivedRoles].sort(),
    actions: [...actions].sort(),
    actionPatterns: [...patterns].sort(),
    pAttrs,
    rAttrs,
    strings: [...strings].filter((s) => !/[\n{}]/.test(s)).sort(),
    numbers: [...numbers].sort((a, b) => a - b),
  };
}

// ---------------------------------------------------------------- random inputs
export const PEOPLE = ['alice', 'bob', 'carol', 'dave', 'eve'];
export const IPS = ['10.20.1.5', '10.21.0.1', '192.168.0.10', '127.0.0.1'];

export function genValue(rng: Rng, v: Vocab, name: string, subs: Set<string>, ids: string[]): unknown {
  if (subs.size > 0 && rng.chance(0.8)) {
    const o: Record<string, unknown> = {};
    for (const s of subs) if (rng.chance(0.85)) o[s] = genValue(rng, v, s, new Set(), ids);
    return o;
  }
  const r = rng.next();
  if (/ip/i.test(name) && r < 0.7) return rng.pick(IPS);
  if (/(At|time|date)$/i.test(name) && r < 0.7) return new Date(Date.now() - rng.int(72) * 3_600_000).toISOString();
  if (/(owner|id|_for|by)$/i.test(name) && r < 0.6) return rng.pick(ids);
  if (r < 0.4) return rng.pick(v.strings.length ? v.strings : ['x']);
  if (r < 0.55) return rng.some(v.strings.length ? v.strings : ['x'], 0, 3);
  if (r < 0.7) return rng.chance(0.5);
  if (r < 0.82) return v.numbers.length && rng.chance(0.7) ? rng.pick(v.numbers) : rng.int(20_000) / (rng.chance(0.3) ? 100 : 1);
  if (r < 0.9) return rng.pick(ids);
  return `v${rng.int(1000)}`;
}

export function genAttrs(rng: Rng, v: Vocab, m: Map<string, Set<string>>, ids: string[]): Record<string, unknown> | undefined {
  if (m.size === 0 || rng.chance(0.05)) return undefined;
  const out: Record<string, unknown> = {};
  for (const [name, subs] of m) if (rng.chance(0.75)) out[name] = genValue(rng, v, name, subs, ids);
  if (rng.chance(0.2)) out[`extra${rng.int(5)}`] = rng.pick(v.strings.length ? v.strings : ['x']);
  return out;
}

export function genScope(rng: Rng, v: Vocab): string | undefined {
  if (rng.chance(0.35)) return undefined;
  const s = rng.pick(v.scopes);
  if (rng.chance(0.05)) return s === '' ? 'nowhere' : `${s}.nowhere`; // unknown leaf: strict scope search
  return s;
}

export function genAction(rng: Rng, v: Vocab): string {
  const r = rng.next();
  if (r < 0.1 || (v.actions.length === 0 && v.actionPatterns.length === 0)) return `unknown_${rng.int(3)}`;
  if (r < 0.25 && v.actionPatterns.length) return rng.pick(v.actionPatterns).replace(/\*/g, () => rng.pick(['public', 'x', 'a:b', 'secret']));
  return rng.pick(v.actions.length ? v.actions : ['read']);
}

// ---------------------------------------------------------------- rule-directed sampling
/** Something a rule applies to: the kind, version and scope of its policy, its actions and who it names. */
export interface RuleTarget {
  kind: string;
  version: string;
  scope: string;
  actions: string[];
  /** roles that make the rule apply (its roles, the parent roles of its derived roles, the role of a role policy) */
  roles: string[];
  /** for principal-policy rules: the principal */
  principal?: string;
}

/** Every rule of a policy set as a target for generated requests (so that generated principals meet conditions). */
export function ruleTargets(sources: readonly PolicySource[]): RuleTarget[] {
  const docs = sources.flatMap((src) => parseAllDocuments(src.content).map((d) => d.toJS() as Record<string, unknown> | null)).filter((d): d is Record<string, unknown> => !!d && typeof d === 'object');
  const parents = new Map<string, string[]>();
  for (const d of docs) {
    const dr = d.derivedRoles as { definitions?: { name?: string; parentRoles?: string[] }[] } | undefined;
    for (const def of dr?.definitions ?? []) if (def.name) parents.set(def.name, (def.parentRoles ?? []).filter((r) => r !== '*'));
  }
  const out: RuleTarget[] = [];
  const concrete = (xs: unknown): string[] => (Array.isArray(xs) ? xs.filter((x): x is string => typeof x === 'string' && !x.includes('*')) : []);
  for (const d of docs) {
    const rp = d.resourcePolicy as Record<string, unknown> | undefined;
    if (rp && typeof rp.resource === 'string' && !rp.resource.includes('*')) {
      for (const r of (rp.rules as Record<string, unknown>[] | undefined) ?? []) {
        const roles = [...concrete(r.roles), ...concrete(r.derivedRoles).flatMap((dr) => parents.get(dr) ?? [])];
        const actions = concrete(r.actions);
        if (actions.length === 0 || roles.length === 0) continue;
        out.push({ kind: rp.resource, version: String(rp.version ?? 'default'), scope: String(rp.scope ?? ''), actions, roles });
      }
    }
    const pp = d.principalPolicy as Record<string, unknown> | undefined;
    if (pp && typeof pp.principal === 'string') {
      for (const r of (pp.rules as Record<string, unknown>[] | undefined) ?? []) {
        if (typeof r.resource !== 'string' || r.resource.includes('*')) continue;
        const actions = concrete(((r.actions as Record<string, unknown>[] | undefined) ?? []).map((a) => a.action));
        if (actions.length) out.push({ kind: r.resource, version: String(pp.version ?? 'default'), scope: String(pp.scope ?? ''), actions, roles: [], principal: pp.principal });
      }
    }
    const rl = d.rolePolicy as Record<string, unknown> | undefined;
    if (rl && typeof rl.role === 'string') {
      for (const r of (rl.rules as Record<string, unknown>[] | undefined) ?? []) {
        if (typeof r.resource !== 'string' || r.resource.includes('*')) continue;
        const actions = concrete(r.allowActions);
        if (actions.length) out.push({ kind: r.resource, version: String(rl.version ?? 'default'), scope: String(rl.scope ?? ''), actions, roles: [rl.role] });
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------- plan requests
/** A plan request: who, which kind (version, scope, maybe one attribute fixed), which actions, maybe a JWT. */
export interface PlanInputCase {
  principal: Principal;
  resource: { kind: string; policyVersion?: string; scope?: string; attr?: Record<string, unknown> };
  actions: string[];
  jwtClaims?: Record<string, unknown>;
}

/** Most plans aim at a rule (its kind, an action, a role that makes it apply); the rest are drawn at random. */
export function genPlanInput(rng: Rng, v: Vocab, targets: readonly RuleTarget[], jwt: boolean): PlanInputCase {
  const target = targets.length > 0 && rng.chance(0.75) ? rng.pick(targets) : undefined;
  const id = target?.principal ?? (rng.chance(0.3) && v.principalIds.length ? rng.pick(v.principalIds) : rng.pick([...PEOPLE, `user${rng.int(100)}`]));
  const ids = [id, ...PEOPLE, ...v.principalIds];
  const roles = rng.some([...v.roles, ...v.roles, ...v.derivedRoles, 'random_role', 'user'], 1, 3);
  if (target && target.roles.length > 0) roles.splice(rng.int(roles.length + 1), 0, rng.pick(target.roles));
  const principal: Principal = { id, roles: [...new Set(roles)] };
  const pAttr = genAttrs(rng, v, v.pAttrs, ids);
  if (pAttr) principal.attr = pAttr;
  const version = target ? (target.version === 'default' && rng.chance(0.7) ? undefined : target.version) : rng.chance(0.15) ? rng.pick([...v.versions, 'nope']) : undefined;
  if (version !== undefined) principal.policyVersion = version;
  const pScope = target?.principal !== undefined ? target.scope || undefined : genScope(rng, v);
  if (pScope !== undefined) principal.scope = pScope;
  const kind = target ? target.kind : rng.chance(0.04) ? 'unknown_kind' : rng.pick(v.kinds);
  const resource: PlanInputCase['resource'] = { kind };
  if (version !== undefined) resource.policyVersion = version;
  const rScope = target && target.principal === undefined ? (target.scope === '' && rng.chance(0.5) ? undefined : target.scope) : rng.chance(0.5) ? pScope : genScope(rng, v);
  if (rScope !== undefined) resource.scope = rScope;
  // sometimes the query already fixes an attribute (e.g. "tickets of this project")
  if (rng.chance(0.15)) {
    const a = genAttrs(rng, v, v.rAttrs, ids);
    const keys = Object.keys(a ?? {});
    if (keys.length) {
      const k = rng.pick(keys);
      resource.attr = { [k]: a![k] };
    }
  }
  const actions = [...new Set([...(target ? [rng.pick(target.actions)] : []), ...Array.from({ length: target ? (rng.chance(0.15) ? 1 : 0) : rng.chance(0.2) ? 2 : 1 }, () => genAction(rng, v))])];
  const c: PlanInputCase = { principal, resource, actions };
  if (jwt && rng.chance(0.5)) {
    c.jwtClaims = { sub: id, iss: 'https://issuer.example', aud: rng.some(['cerbos-jwt-tests', 'other-aud'], 1, 2), customArray: rng.some(['A', 'B', 'C'], 0, 3), customInt: 42 };
  }
  return c;
}


// ---------------------------------------------------------------- generated policy sets
/**
 * A random Cerbos policy set (YAML sources) exercising what the engine must agree on: resource policies at a scope
 * chain with both scope permissions, derived roles (with variables, `*` parents), principal and role policies
 * (parent roles, conditions), variables and constants, outputs (some of which fail), and conditions built from
 * every combinator, nested, over attributes that requests leave missing or give the wrong type.
 */
export function genPolicySet(rng: Rng): PolicySource[] {
  const kinds = ['doc', 'file'];
  const roles = ['r0', 'r1', 'r2'];
  const actions = ['a0', 'a1', 'a2', 'x:read', 'x:write'];
  const scopes = ['', 'acme', 'acme.hr', 'acme.sales'];
  const perm = new Map(scopes.map((s) => [s, rng.chance(0.5) ? 'SCOPE_PERMISSIONS_OVERRIDE_PARENT' : 'SCOPE_PERMISSIONS_REQUIRE_PARENTAL_CONSENT_FOR_ALLOWS']));
  const leaves = [
    'R.attr.n > 1', 'R.attr.s == "x"', 'R.attr.b', 'R.attr.b == true', '"x" in R.attr.tags', 'P.attr.n < R.attr.n', 'V.v0', 'V.v1 == "x"',
    'C.c0 == R.attr.s', 'R.attr.missing == 1', 'P.attr.s.startsWith("a")', 'R.attr.owner == P.id', 'size(R.attr.tags) > 0',
    'runtime.effectiveDerivedRoles.exists(r, r == "d0")', 'P.attr.b', 'R.attr.n + P.attr.n > 2',
  ];
  const cond = (depth: number): unknown => {
    if (depth === 0 || rng.chance(0.4)) return { expr: rng.pick(leaves) };
    const op = rng.pick(['all', 'any', 'none']);
    return { [op]: { of: Array.from({ length: 1 + rng.int(3) }, () => cond(depth - 1)) } };
  };
  const outputs = ['R.attr.s', '"fixed"', 'R.attr.n + 1', 'P.id', 'V.v0', 'C.c0'];
  const output = () => (rng.chance(0.3) ? { output: { when: { ...(rng.chance(0.7) ? { ruleActivated: rng.pick(outputs) } : {}), conditionNotMet: rng.pick(outputs) } } } : {});
  const withCond = () => (rng.chance(0.7) ? { condition: { match: cond(3) } } : {});
  const params = { variables: { local: { v0: rng.pick(leaves.filter((l) => !l.includes('V.'))), v1: rng.pick(['R.attr.s', 'P.attr.s', '"x"']) } }, constants: { local: { c0: 'x' } } };
  const docs: Record<string, unknown>[] = [];
  docs.push({ derivedRoles: { name: 'common', ...params, definitions: ['d0', 'd1', 'd2'].map((name) => ({ name, parentRoles: rng.chance(0.2) ? ['*'] : rng.some(roles, 1, 2), ...withCond() })) } });
  for (const kind of kinds) {
    for (const scope of scopes) {
      if (scope !== '' && !rng.chance(0.7) && scope !== 'acme') continue;
      // A rule lists ONE derived role: Cerbos 0.55 makes one row per listed derived role in Go map order (ruletable.go,
      // `for dr := range rule.DerivedRoles`), so when one role's condition errors (strict) and another's DENY row
      // matches, which row decides (and so the deciding policy reported) differs between Cerbos processes.
      const rules = Array.from({ length: 2 + rng.int(4) }, () => {
        const viaDr = rng.chance(0.3);
        return {
          actions: rng.some([...actions, 'x:*', '*'], 1, 2),
          effect: rng.chance(0.7) ? 'EFFECT_ALLOW' : 'EFFECT_DENY',
          ...(viaDr ? { derivedRoles: [rng.pick(['d0', 'd1', 'd2'])] } : { roles: rng.chance(0.15) ? ['*'] : rng.some(roles, 1, 2) }),
          ...withCond(),
          ...output(),
        };
      });
      docs.push({ resourcePolicy: { resource: kind, version: 'default', ...(scope ? { scope, scopePermissions: perm.get(scope) } : {}), importDerivedRoles: ['common'], ...params, rules } });
    }
  }
  for (const scope of ['', 'acme']) {
    if (scope !== '' && rng.chance(0.5)) continue;
    const rules = kinds.map((kind) => ({ resource: kind, actions: Array.from({ length: 1 + rng.int(3) }, () => ({ action: rng.pick([...actions, 'x:*']), effect: rng.chance(0.5) ? 'EFFECT_ALLOW' : 'EFFECT_DENY', ...withCond(), ...output() })) }));
    docs.push({ principalPolicy: { principal: 'alice', version: 'default', ...(scope ? { scope, scopePermissions: perm.get(scope) } : {}), ...params, rules } });
  }
  // Cerbos refuses a scope whose policies disagree on scope permissions (role policies have none): role policies go
  // to the root or to a scope no other policy uses (then the walk carries an ALLOW through it)
  const used = new Set(docs.flatMap((d) => Object.values(d).map((p) => (p as { scope?: string }).scope ?? '')));
  const free = ['', ...scopes.filter((s) => s !== '' && !used.has(s)), 'acme.hr.uk'];
  for (const [role, scope] of [['rp0', rng.pick(free)], ['rp1', rng.pick(free)]] as const) {
    const rules = Array.from({ length: 1 + rng.int(2) }, () => ({ resource: rng.pick([...kinds, '*']), allowActions: rng.some([...actions, 'x:*'], 1, 3), ...withCond(), ...output() }));
    docs.push({ rolePolicy: { role, ...(scope ? { scope } : {}), parentRoles: rng.some(roles, 1, 2), ...params, rules } });
  }
  return docs.map((d, i) => ({ name: `gen_${String(i).padStart(2, '0')}.yaml`, content: stringify({ apiVersion: 'api.cerbos.dev/v1', ...d }) }));
}
