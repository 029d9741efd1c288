// The Node writer of the decision log: batched asynchronous writes on a file descriptor, a bounded buffer that drops
// with a counter. Real files (a temporary directory), no mocks.
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createAsyncLineWriter } from './sink.node.js';

const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});
function tempFile(): { fd: number; path: string; read: () => string } {
  const dir = mkdtempSync(join(tmpdir(), 'baton-log-'));
  const path = join(dir, 'decisions.log');
  const fd = openSync(path, 'a');
  cleanup.push(() => {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });
  return { fd, path, read: () => readFileSync(path, 'utf8') };
}

describe('createAsyncLineWriter: decision lines off the hot path (Node)', () => {
  it('queues lines without writing, then writes them in order in one batch', async () => {
    const f = tempFile();
    const w = createAsyncLineWriter({ fd: f.fd });
    for (let i = 0; i < 100; i++) w.write(`{"n":${i}}`);
    expect(f.read()).toBe(''); // the decisions did not wait for the file
    await w.drain();
    expect(f.read()).toBe(Array.from({ length: 100 }, (_, i) => `{"n":${i}}\n`).join(''));
    expect(w.stats()).toEqual({ accepted: 100, dropped: 0, batches: 1, bufferedBytes: 0 });
  });

  it('a full buffer drops new lines and counts them, never blocking; the count is written as a log_dropped line', async () => {
    const f = tempFile();
    const line = `{"pad":"${'x'.repeat(90)}"}`; // 100 characters, 101 bytes with its newline
    const w = createAsyncLineWriter({ fd: f.fd, maxBufferedBytes: 1010, now: () => new Date('2026-01-02T03:04:05Z') });
    for (let i = 0; i < 25; i++) w.write(line);
    expect(w.stats()).toMatchObject({ accepted: 25, dropped: 15, bufferedBytes: 1010 });
    await w.drain();
    const lines = f.read().trimEnd().split('\n');
    expect(lines.slice(0, 10)).toEqual(Array.from({ length: 10 }, () => line));
    expect(JSON.parse(lines[10]!)).toEqual({ time: '2026-01-02T03:04:05.000Z', hop: 'log', event: 'log_dropped', effect: 'none', dropped: 15, reason: 'the decision log buffer was full' });
    expect(lines).toHaveLength(11);
    w.write(line); // room again once written
    await w.drain();
    expect(w.stats()).toMatchObject({ accepted: 26, dropped: 15, bufferedBytes: 0 });
  });

  it('flush writes what is queued at once, synchronously (before a process exits)', () => {
    const f = tempFile();
    const w = createAsyncLineWriter({ fd: f.fd });
    w.write('a');
    w.write('b');
    w.flush();
    expect(f.read()).toBe('a\nb\n');
  });

  it('a destination that fails drops the batch, counted; the decision path never sees the error', async () => {
    const f = tempFile();
    const readOnly = openSync(f.path, 'r'); // writing to it fails (EBADF)
    cleanup.unshift(() => closeSync(readOnly));
    const w = createAsyncLineWriter({ fd: readOnly });
    expect(() => w.write('lost')).not.toThrow();
    await w.drain();
    expect(w.stats()).toMatchObject({ accepted: 1, dropped: 1 });
    expect(f.read()).toBe('');
  });
});

describe('installNodeLineWriter: standard output of a real process', () => {
  it('lines reach stdout in batches, in order, and what is still queued when the process exits is written too', async () => {
    const { spawnSync } = await import('node:child_process');
    const { writeFileSync } = await import('node:fs');
    const { fileURLToPath } = await import('node:url');
    const dir = mkdtempSync(join(tmpdir(), 'baton-log-child-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const script = join(dir, 'child.mts');
    const sink = fileURLToPath(new URL('./sink.node.ts', import.meta.url));
    const index = fileURLToPath(new URL('./index.ts', import.meta.url));
    writeFileSync(
      script,
      `import { installNodeLineWriter } from ${JSON.stringify(sink)};
import { stdoutLines } from ${JSON.stringify(index)};
const w = installNodeLineWriter();
for (let i = 0; i < 3; i++) stdoutLines.write('{"n":' + i + '}');
setImmediate(() => {
  stdoutLines.write('{"n":3}');
  process.exit(0); // queued, not written yet: the exit hook writes it
});
void w;
`,
    );
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', cwd: fileURLToPath(new URL('../..', import.meta.url)) });
    expect(r.stderr).toBe('');
    // every line, each once; the ones written at exit may come before the batch still in flight (documented)
    expect(r.stdout.endsWith('\n')).toBe(true);
    expect(r.stdout.trimEnd().split('\n').sort()).toEqual(['{"n":0}', '{"n":1}', '{"n":2}', '{"n":3}']);
    expect(r.stdout).toContain('{"n":0}\n{"n":1}\n{"n":2}\n'); // one batch, in order
  });
});
