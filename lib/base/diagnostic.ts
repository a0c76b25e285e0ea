/**
 * Config problems are collected as diagnostics, not thrown, so a user sees every mistake at once:
 *   pipeline.yaml:14:9 error: unknown key 'isi_treshold' in stages.quality_metrics.params (did you mean 'isi_threshold'?)
 *     14 |       isi_treshold: 0.002
 *        |       ^~~~~~~~~~~~
 */
import fs from 'node:fs';
import path from 'node:path';

export interface SourceSpan {
  file: string;
  /** 1-based line and column; absent when the problem has no place in a file. */
  line?: number;
  column?: number;
  /** Characters to underline on that line. */
  length?: number;
}

export interface Diagnostic extends Partial<SourceSpan> {
  message: string;
  /** The recording the problem was found in, when it is one recording's: repeats are folded. */
  recording?: string;
  notes?: Array<{ message: string } & Partial<SourceSpan>>;
}

export type Result<T> = { ok: true; value: T } | { ok: false; diagnostics: Diagnostic[] };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const fail = <T = never>(...diagnostics: Diagnostic[]): Result<T> => ({ ok: false, diagnostics });

function location(d: Partial<SourceSpan>, cwd: string): string {
  if (!d.file) return '';
  const rel = path.relative(cwd, d.file);
  const name = rel && !rel.startsWith('..') ? rel : d.file;
  return d.line ? `${name}:${d.line}:${d.column ?? 1}` : name;
}

const sourceCache = new Map<string, string[]>();
function sourceLine(file: string, line: number): string | undefined {
  let lines = sourceCache.get(file);
  if (!lines) {
    try { lines = fs.readFileSync(file, 'utf8').split(/\r?\n/); } catch { return undefined; }
    sourceCache.set(file, lines);
  }
  return lines[line - 1];
}

function excerpt(d: Partial<SourceSpan>, indent: string): string {
  if (!d.file || !d.line) return '';
  const text = sourceLine(d.file, d.line);
  if (text === undefined) return '';
  const num = String(d.line);
  const pad = ' '.repeat(num.length);
  const col = Math.max(1, d.column ?? 1);
  const len = Math.max(1, Math.min(d.length ?? 1, Math.max(1, text.length - col + 1)));
  return `${indent}${num} | ${text}\n${indent}${pad} | ${' '.repeat(col - 1)}^${'~'.repeat(len - 1)}\n`;
}

/**
 * One pipeline.yaml mistake shows up once per recording; print it once, saying how many more
 * recordings have it.
 */
export function foldRepeats(diags: Diagnostic[]): Diagnostic[] {
  const groups = new Map<string, { first: Diagnostic; more: number }>();
  const out: Diagnostic[] = [];
  for (const d of diags) {
    if (!d.recording) { out.push(d); continue; }
    const key = `${d.file}:${d.line}:${d.column}:${d.message.split(d.recording).join('\u0000')}`;
    const g = groups.get(key);
    if (g) g.more++;
    else { const first = { ...d }; groups.set(key, { first, more: 0 }); out.push(first); }
  }
  for (const { first, more } of groups.values()) {
    if (more) first.message += ` (and in ${more} more recording${more === 1 ? '' : 's'})`;
  }
  return out;
}

export function formatDiagnostic(d: Diagnostic, cwd = process.cwd()): string {
  const loc = location(d, cwd);
  let out = `${loc ? loc + ' ' : ''}error: ${d.message}\n` + excerpt(d, '  ');
  for (const n of d.notes ?? []) {
    const nloc = location(n, cwd);
    out += `  note: ${nloc ? nloc + ': ' : ''}${n.message}\n` + excerpt(n, '    ');
  }
  return out;
}

/** Damerau-free edit distance, for did-you-mean hints on misspelt keys and stage names. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

export function didYouMean(word: string, candidates: Iterable<string>): string {
  let best: string | undefined;
  let bestDist = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDist) { bestDist = d; best = c; }
  }
  return best !== undefined && bestDist <= Math.max(2, Math.floor(word.length / 3)) ? ` (did you mean '${best}'?)` : '';
}
