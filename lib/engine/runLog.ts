/** `{output}/.ephys-make/runs.jsonl`: one line per run, appended; the recording's provenance. */
import fs from 'node:fs';
import path from 'node:path';

export interface RunLine {
  stage: string;
  reason: string;
  start: string;
  end: string;
  status: 'done' | 'failed' | 'interrupted' | 'adopted';
  exitCode?: number | null;
  signal?: string | null;
  attempt?: number;
  host: string;
  pid: number;
  versions: Record<string, string>;
  message?: string;
}

export function appendRun(stateDir: string, line: RunLine): void {
  fs.mkdirSync(stateDir, { recursive: true });
  const fd = fs.openSync(path.join(stateDir, 'runs.jsonl'), 'a+');
  try {
    // A writer killed mid-line leaves no newline at the end: start on a line of our own, or our
    // line would be glued to the torn one and skipped with it.
    const size = fs.fstatSync(fd).size;
    const last = Buffer.alloc(1);
    const torn = size > 0 && fs.readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 0x0a;
    // One write of a short line with O_APPEND: lines from concurrent writers do not interleave.
    fs.writeSync(fd, (torn ? '\n' : '') + JSON.stringify(line) + '\n');
  } finally {
    fs.closeSync(fd);
  }
}

export function readRuns(stateDir: string): RunLine[] {
  let text: string;
  try { text = fs.readFileSync(path.join(stateDir, 'runs.jsonl'), 'utf8'); } catch { return []; }
  const out: RunLine[] = [];
  for (const l of text.split('\n')) {
    if (!l.trim()) continue;
    try { out.push(JSON.parse(l)); } catch { /* a torn last line after a crash is skipped */ }
  }
  return out;
}
