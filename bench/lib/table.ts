/** Plain-text tables and the machine line printed by every benchmark. */
import { cpus, platform, release, totalmem } from 'node:os';

export type Cell = string | number | undefined;
export type Align = 'left' | 'right';

/** Formats a number with thousands separators and a fixed number of decimals. */
export function fmt(n: number | undefined, decimals = 0): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  return n.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

export function pct(ratio: number | undefined): string {
  if (ratio === undefined || !Number.isFinite(ratio)) return '-';
  return `${(ratio * 100).toFixed(0)}%`;
}

/** Renders rows under a header as an aligned text table (numbers right-aligned unless told otherwise). */
export function renderTable(headers: readonly string[], rows: readonly (readonly Cell[])[], align?: readonly Align[]): string {
  const text = rows.map((r) => headers.map((_, i) => (r[i] === undefined ? '' : String(r[i]))));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => r[i]!.length)));
  const al = headers.map((_, i) => align?.[i] ?? (rows.some((r) => typeof r[i] === 'number') || i > 0 ? 'right' : 'left'));
  const line = (cells: readonly string[]) =>
    '| ' + cells.map((c, i) => (al[i] === 'left' ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ') + ' |';
  const sep = '|' + widths.map((w, i) => (al[i] === 'left' ? ':' + '-'.repeat(w + 1) : '-'.repeat(w + 1) + ':')).join('|') + '|';
  return [line(headers), sep, ...text.map(line)].join('\n');
}

export function printTable(title: string, headers: readonly string[], rows: readonly (readonly Cell[])[], align?: readonly Align[]): void {
  console.log(`\n${title}\n${renderTable(headers, rows, align)}`);
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  node: string;
  os: string;
  memGiB: number;
}

export function machine(): MachineInfo {
  const c = cpus();
  return {
    cpu: c[0]?.model.trim() ?? 'unknown',
    cores: c.length,
    node: process.version,
    os: `${platform()} ${release()}`,
    memGiB: Math.round(totalmem() / 2 ** 30),
  };
}

export function machineLine(m: MachineInfo = machine()): string {
  return `machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB, node ${m.node}, ${m.os}`;
}

export function passMiss(ok: boolean): 'PASS' | 'MISS' {
  return ok ? 'PASS' : 'MISS';
}
