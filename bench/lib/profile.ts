/**
 * Where the time goes, from V8's sampling CPU profiler (the profiler `node --cpu-prof` writes to a file, driven here
 * through node:inspector so that one benchmark run both measures and attributes). Every sample taken while the code
 * ran is given to exactly one stage, so the stages add up to the whole: a sample goes to the first stage (in the order
 * given) that has a frame on the sample's stack; samples no stage claims are "other"; idle samples are left out.
 */
import { Session } from 'node:inspector/promises';

export interface StageSpec {
  name: string;
  /** function names (exact) whose frames, anywhere on a stack, put the sample in this stage */
  functions?: readonly string[];
  /** or a test on a frame */
  frame?: (functionName: string, url: string) => boolean;
  /** what the profile showed and what was done about it (printed beside the stage) */
  finding: string;
}

export interface StageShare {
  name: string;
  /** share of the non-idle samples */
  share: number;
  /** the functions with the most self time in this stage, with their share of the stage */
  top: string;
  finding: string;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const IDLE = new Set(['(idle)', '(program)']);

/** Runs `work` under the sampling profiler (100 µs interval) and returns the profile. */
export async function profile(work: () => Promise<void>): Promise<Profile> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
    await session.post('Profiler.start');
    await work();
    const { profile: p } = (await session.post('Profiler.stop')) as unknown as { profile: Profile };
    return p;
  } finally {
    session.disconnect();
  }
}

function short(url: string): string {
  const i = url.lastIndexOf('/src/');
  if (i >= 0) return url.slice(i + 1);
  const n = url.lastIndexOf('node_modules/');
  if (n >= 0) return url.slice(n + 13);
  return url.replace(/^node:internal\//, 'node:');
}

/** Attributes the samples of `p` to `stages` (see the module comment). */
export function stageShares(p: Profile, stages: readonly StageSpec[]): { shares: StageShare[]; samples: number } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const memo = new Map<number, number>(); // node id -> stage index (stages.length = other)
  const stageOf = (id: number): number => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    let best = stages.length;
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      const i = stages.findIndex((s) => s.functions?.includes(f.functionName) === true || s.frame?.(f.functionName, f.url) === true);
      if (i >= 0 && i < best) best = i;
    }
    memo.set(id, best);
    return best;
  };
  const counts = new Array<number>(stages.length + 1).fill(0);
  const selfIn: Array<Map<string, number>> = Array.from({ length: stages.length + 1 }, () => new Map());
  let total = 0;
  for (const id of p.samples) {
    const f = byId.get(id)!.callFrame;
    if (IDLE.has(f.functionName)) continue;
    const s = stageOf(id);
    counts[s]!++;
    total++;
    const key = `${f.functionName || '(anonymous)'}${f.url === '' ? '' : ` (${short(f.url)})`}`;
    selfIn[s]!.set(key, (selfIn[s]!.get(key) ?? 0) + 1);
  }
  const names = [...stages.map((s) => s.name), 'other (not in a stage above)'];
  const findings = [...stages.map((s) => s.finding), ''];
  const shares = names.map((name, i) => {
    const top = [...selfIn[i]!].sort((a, b) => b[1] - a[1]).slice(0, 2).map(([k, n]) => `${k} ${Math.round((100 * n) / Math.max(1, counts[i]!))}%`).join(', ');
    return { name, share: counts[i]! / Math.max(1, total), top, finding: findings[i]! };
  });
  return { shares, samples: total };
}
