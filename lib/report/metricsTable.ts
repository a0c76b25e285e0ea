/**
 * Reading a quality-metrics table (`metrics.csv`, written by pandas): numeric columns as arrays,
 * one value per unit, NaN where a cell is empty or not a number. Quoted fields are understood;
 * text columns (epoch names) are dropped.
 */
import fs from 'node:fs';

export interface MetricsTable {
  /** Column name -> one value per row. */
  columns: Record<string, number[]>;
  rows: number;
}

export function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '', quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') { cur += '"'; i++; }
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { out.push(cur); cur = ''; }
    else cur += ch;
  }
  out.push(cur);
  return out;
}

export function readMetricsTable(file: string): MetricsTable {
  const lines = fs.readFileSync(file, 'utf8').split(/\r?\n/).filter((l) => l.trim());
  if (!lines.length) return { columns: {}, rows: 0 };
  const header = parseCsvLine(lines[0]);
  const cells = lines.slice(1).map(parseCsvLine);
  const columns: Record<string, number[]> = {};
  header.forEach((name, i) => {
    // pandas writes its index as a first, unnamed column.
    if (!name || name in columns) return;
    const raw = cells.map((c) => (c[i] ?? '').trim());
    if (raw.some((v) => v !== '' && Number.isNaN(toNumber(v)) && !/^nan$/i.test(v))) return;
    columns[name] = raw.map(toNumber);
  });
  return { columns, rows: cells.length };
}

/** pandas writes NaN as empty or `nan`, infinities as `inf` / `-inf`. */
function toNumber(v: string): number {
  if (v === '') return NaN;
  if (/^[+-]?inf$/i.test(v)) return v.startsWith('-') ? -Infinity : Infinity;
  return Number(v);
}

export interface Threshold { metric: string; op: '<' | '>' | '<=' | '>='; value: number }

/** The Allen Institute's usual unit filter. */
export const allenThresholds = 'isi_viol<0.5,amplitude_cutoff<0.1,presence_ratio>0.9';

/** `isi_viol<0.5,amplitude_cutoff<0.1` -> thresholds, or the words of what is wrong. */
export function parseThresholds(text: string): { ok: true; value: Threshold[] } | { ok: false; message: string } {
  const out: Threshold[] = [];
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([A-Za-z_][\w]*)\s*(<=|>=|<|>)\s*(-?[\d.]+(?:e-?\d+)?)$/.exec(part);
    if (!m || Number.isNaN(Number(m[3]))) return { ok: false, message: `'${part}': expected METRIC<VALUE or METRIC>VALUE (e.g. ${allenThresholds})` };
    out.push({ metric: m[1], op: m[2] as Threshold['op'], value: Number(m[3]) });
  }
  return { ok: true, value: out };
}

export function passes(t: Threshold, v: number): boolean {
  if (Number.isNaN(v)) return false;
  switch (t.op) {
    case '<': return v < t.value;
    case '>': return v > t.value;
    case '<=': return v <= t.value;
    case '>=': return v >= t.value;
  }
}

export function formatThresholds(ts: Threshold[]): string {
  return ts.map((t) => `${t.metric} ${t.op} ${t.value}`).join(', ');
}
