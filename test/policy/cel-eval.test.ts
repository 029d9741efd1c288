/**
 * Cerbos cel_eval conformance: every file in shared/conformance/cerbos/testdata/cel_eval is one case
 * (condition + request + want/wantError), evaluated with now() frozen at 2021-04-22T10:05:20.021-05:00.
 * Each case also gets one test per expression of a top-level `all` whose wanted result is true (each must be true),
 * so a failure names the exact expression.
 */
import { describe, it, expect } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { compileCel, compileCondition, CelEvalError, type CelActivation, type CelRequest } from '../../src/policy/cel/index.js';

const root = new URL('../../../shared/conformance/cerbos/testdata/cel_eval/', import.meta.url);
const dir = fileURLToPath(root);
const NOW = new Date('2021-04-22T10:05:20.021-05:00');

/** Cases we cannot pass yet, excluded with the reason printed (none at the moment). */
const knownGaps = new Map<string, string>([]);

interface CelCase {
  condition: unknown;
  request?: { principal?: Partial<CelRequest['principal']>; resource?: Partial<CelRequest['resource']>; auxData?: CelRequest['auxData'] };
  want?: boolean;
  wantError?: boolean;
}

function activation(c: CelCase): CelActivation {
  const p = c.request?.principal ?? {};
  const r = c.request?.resource ?? {};
  const request: CelRequest = {
    principal: { id: p.id ?? '', roles: p.roles ?? [], attr: p.attr ?? {}, policyVersion: p.policyVersion, scope: p.scope },
    resource: { kind: r.kind ?? '', id: r.id ?? '', attr: r.attr ?? {}, policyVersion: r.policyVersion, scope: r.scope },
  };
  if (c.request?.auxData) request.auxData = c.request.auxData;
  return { request, now: NOW };
}

if (!existsSync(dir)) {
  console.warn(`[cel-eval] conformance data not found at ${dir}: skipping Cerbos cel_eval conformance tests`);
  describe.skip('cel_eval conformance (data folder absent)', () => {
    it('needs ../shared/conformance/cerbos', () => {});
  });
} else {
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();
  describe('cel_eval conformance', () => {
    it('has data', () => expect(files.length).toBeGreaterThan(0));
    files.forEach((file, index) => {
      const name = `${file} #${index}`;
      const gap = knownGaps.get(file);
      if (gap) {
        console.warn(`[cel-eval] excluded ${name}: ${gap}`);
        return;
      }
      const c = parseYaml(readFileSync(new URL(file, root), 'utf8')) as CelCase;
      it(name, () => {
        const cond = compileCondition(c.condition, file);
        const { result, errors } = cond.evaluateDetailed(activation(c));
        if (c.wantError) {
          expect(errors.length).toBeGreaterThan(0);
        } else {
          expect(result, errors.map((e) => e.message).join('\n')).toBe(c.want ?? false);
        }
      });
      const all = (c.condition as { all?: { of?: { expr?: string }[] } }).all?.of;
      if (c.want === true && !c.wantError && all) {
        all.forEach((e, i) => {
          if (typeof e.expr !== 'string') return;
          const expr = e.expr;
          it(`${name} all.of[${i}]: ${expr.split('\n')[0]}`, () => {
            let v: unknown;
            try {
              v = compileCel(expr).evaluate(activation(c));
            } catch (err) {
              expect.fail(`${expr}\n -> ${(err as Error).message}`);
            }
            expect(v).toBe(true);
          });
        });
      }
    });
  });
}

describe('condition errors are values, not crashes', () => {
  it('a missing attribute is a CelEvalError', () => {
    const a: CelActivation = {
      request: { principal: { id: 'u', roles: [], attr: {} }, resource: { kind: 'k', id: '1', attr: {} } },
      now: NOW,
    };
    expect(() => compileCel('P.attr.nope == 1').evaluate(a)).toThrow(CelEvalError);
  });
});
