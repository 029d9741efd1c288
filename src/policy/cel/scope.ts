// The variables a CEL expression sees (CelScope): one per request, swapped in place as the engine moves between
// policies (see index.ts for the programs that read it).
export interface CelRequest {
  principal: { id: string; roles: string[]; attr: Record<string, unknown>; policyVersion?: string; scope?: string };
  resource: { kind: string; id: string; attr: Record<string, unknown>; policyVersion?: string; scope?: string };
  auxData?: { jwt?: Record<string, unknown> | undefined; jwts?: Record<string, { claims: Record<string, unknown> }> | undefined } | undefined;
}

const EMPTY: Readonly<Record<string, unknown>> = Object.freeze({});
const NO_ROLES = Object.freeze([]) as readonly string[];
/** Both spellings Cerbos accepts. */
const EMPTY_RUNTIME = Object.freeze({ effectiveDerivedRoles: NO_ROLES, effective_derived_roles: NO_ROLES });

function withDefaults<T extends { attr?: Record<string, unknown>; policyVersion?: string; scope?: string }>(x: T): T {
  // Cerbos exposes protobuf messages: absent strings read as "" and absent attr as an empty map.
  if (x.attr !== undefined && x.policyVersion !== undefined && x.scope !== undefined) return x;
  // `__proto__` first: V8's slow path for a spread followed by new members (same object, same prototype)
  return { __proto__: Object.prototype, ...x, attr: x.attr ?? EMPTY, policyVersion: x.policyVersion ?? '', scope: x.scope ?? '' };
}

/**
 * The variables every expression sees. The engine builds ONE per request and swaps `V`/`C`/`runtime` in place as it
 * moves between policies (no copies of attributes, no per-expression allocation). Fields are read by the CEL
 * interpreter as plain properties; aliases (`V`/`variables`, ...) always hold the same object.
 */
export class CelScope {
  private req: CelScopeRequest | undefined;
  private readonly aux: CelAux;
  /** `request`, made when an expression first reads it (most read `P` and `R`) and the same object from then on. */
  get request(): CelScopeRequest {
    return (this.req ??= { principal: this.P, resource: this.R, auxData: this.aux, aux_data: this.aux });
  }
  readonly P: CelRequest['principal'];
  readonly R: CelRequest['resource'];
  V: Record<string, unknown>;
  variables: Record<string, unknown>;
  C: Record<string, unknown>;
  constants: Record<string, unknown>;
  readonly G: Record<string, unknown>;
  readonly globals: Record<string, unknown>;
  runtime: { effectiveDerivedRoles: readonly string[] };
  private instant: Date | undefined;
  /** `now()` for every expression evaluated in this scope: the instant given, or the time it is first asked for. */
  get now(): Date {
    return (this.instant ??= new Date());
  }
  constructor(
    request: CelRequest,
    now: Date | undefined,
    globals?: Record<string, unknown>,
    variables?: Record<string, unknown>,
    constants?: Record<string, unknown>,
    runtime?: { effectiveDerivedRoles: readonly string[] },
    /**
     * The engine's own scope: `request.principal` and `request.resource` are fresh plain objects it built from
     * validated input, with every field (id, roles or kind, attr, policyVersion, scope) set (the fast path reads them
     * without checking, fast.ts).
     */
    readonly built = false,
  ) {
    const P = withDefaults(request.principal);
    const R = withDefaults(request.resource);
    const jwt = request.auxData?.jwt;
    const jwts = request.auxData?.jwts;
    const aux: CelAux = jwt === undefined && jwts === undefined ? EMPTY_AUX : { jwt: jwt ?? EMPTY, jwts: jwts ?? EMPTY };
    this.req = undefined;
    this.aux = aux;
    this.P = P;
    this.R = R;
    this.V = this.variables = variables ?? EMPTY;
    this.C = this.constants = constants ?? EMPTY;
    this.G = this.globals = globals ?? EMPTY;
    this.runtime = runtime ?? EMPTY_RUNTIME;
    this.instant = now;
  }
  setVariables(v: Record<string, unknown>): void {
    this.V = this.variables = v;
  }
  setConstants(c: Record<string, unknown>): void {
    this.C = this.constants = c;
  }
}
interface CelAux {
  jwt: Record<string, unknown>;
  jwts: Record<string, unknown>;
}
interface CelScopeRequest {
  principal: CelRequest['principal'];
  resource: CelRequest['resource'];
  auxData: CelAux;
  aux_data: CelAux;
}
const EMPTY_AUX: CelAux = Object.freeze({ jwt: EMPTY, jwts: EMPTY }) as CelAux;
