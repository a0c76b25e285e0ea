/**
 * The metrics table as pandas writes and merges it: `DataFrame.to_csv` with its index (a leading
 * unnamed column 0..n-1), floats as numpy's shortest repr ('0.1', '1e-05', '3.0'), NaN as an empty
 * field, minimal quoting; `read_csv(index_col=0)` type inference for waveform_metrics.csv; and the
 * module's inner merge on cluster_id with suffixes for the columns both tables have.
 */
import fs from 'node:fs';
import { StageError } from '../../lib/builtin/stage.js';
import { pyFloatRepr } from '../../lib/numeric/pyFloatRepr.js';

export type Cell = number | string | boolean | null;
export type ColumnKind = 'int' | 'float' | 'bool' | 'string';
export interface Column { name: string; kind: ColumnKind; values: Cell[] }
export type Table = Column[];

function quote(field: string): string {
  return /[",\r\n]/.test(field) ? `"${field.replace(/"/g, '""')}"` : field;
}

function formatCell(kind: ColumnKind, v: Cell): string {
  if (v === null || (typeof v === 'number' && Number.isNaN(v))) return '';
  switch (kind) {
    case 'float': return pyFloatRepr(v as number);
    case 'int': return String(v);
    case 'bool': return v ? 'True' : 'False';
    case 'string': return typeof v === 'boolean' ? (v ? 'True' : 'False') : typeof v === 'number' ? pyFloatRepr(v) : v;
    default: { const never: never = kind; throw new Error(`internal error: column kind ${never}`); }
  }
}

/** The CSV text pandas' `to_csv()` writes for this table with a default RangeIndex. */
export function formatCsv(table: Table): string {
  const rows = table.length ? table[0].values.length : 0;
  let out = ',' + table.map((c) => quote(c.name)).join(',') + '\n';
  for (let r = 0; r < rows; r++) {
    out += String(r);
    for (const c of table) out += ',' + quote(formatCell(c.kind, c.values[r]));
    out += '\n';
  }
  return out;
}

/** Split CSV text into records (RFC 4180 quoting, as Python's csv module reads it). */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = '', record: string[] = [], quoted = false, i = 0, any = false;
  while (i < text.length) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') { field += '"'; i += 2; continue; }
        quoted = false; i++; continue;
      }
      field += ch; i++; continue;
    }
    if (ch === '"') { quoted = true; any = true; i++; continue; }
    if (ch === ',') { record.push(field); field = ''; any = true; i++; continue; }
    if (ch === '\r' || ch === '\n') {
      if (any || field !== '') { record.push(field); records.push(record); }
      record = []; field = ''; any = false;
      i += ch === '\r' && text[i + 1] === '\n' ? 2 : 1;
      continue;
    }
    field += ch; any = true; i++;
  }
  if (any || field !== '') { record.push(field); records.push(record); }
  return records;
}

// pandas' default missing-value strings.
const naStrings = new Set(['', '#N/A', '#N/A N/A', '#NA', '-1.#IND', '-1.#QNAN', '-NaN', '-nan', '1.#IND', '1.#QNAN', '<NA>', 'N/A', 'NA', 'NULL', 'NaN', 'None', 'n/a', 'nan', 'null']);
const intPattern = /^\s*[+-]?\d+\s*$/;
const floatPattern = /^\s*[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|inf|infinity)\s*$/i;
const truePattern = /^(True|TRUE|true)$/;
const falsePattern = /^(False|FALSE|false)$/;

/** One column's values with the dtype pandas' C parser would infer. */
function inferColumn(name: string, raw: string[]): Column {
  const present = raw.filter((s) => !naStrings.has(s));
  const hasNa = present.length < raw.length;
  if (present.length > 0 && present.every((s) => intPattern.test(s))) {
    return hasNa
      ? { name, kind: 'float', values: raw.map((s) => (naStrings.has(s) ? NaN : Number(s))) }
      : { name, kind: 'int', values: raw.map((s) => Number(s)) };
  }
  if (present.every((s) => floatPattern.test(s))) {
    return { name, kind: 'float', values: raw.map((s) => (naStrings.has(s) ? NaN : parseFloatLikePandas(s))) };
  }
  if (present.every((s) => truePattern.test(s) || falsePattern.test(s))) {
    return { name, kind: hasNa ? 'string' : 'bool', values: raw.map((s) => (naStrings.has(s) ? null : truePattern.test(s))) };
  }
  return { name, kind: 'string', values: raw.map((s) => (naStrings.has(s) ? null : s)) };
}

function parseFloatLikePandas(s: string): number {
  const t = s.trim().toLowerCase().replace(/^\+/, '');
  if (t === 'inf' || t === 'infinity') return Infinity;
  if (t === '-inf' || t === '-infinity') return -Infinity;
  return Number(t);
}

/** `pd.read_csv(file, index_col=0)`: the first column is the index and is dropped here. */
export function readCsvTable(file: string): Table {
  const records = parseCsv(fs.readFileSync(file, 'utf8'));
  if (records.length === 0) throw new StageError(`${file}: empty; expected a CSV table with a header line`);
  const header = records[0];
  const rows = records.slice(1);
  const table: Table = [];
  for (let c = 1; c < header.length; c++) {
    const raw = rows.map((r, i) => {
      if (r.length !== header.length) throw new StageError(`${file}:${i + 2}: ${r.length} fields; expected ${header.length} as in the header`);
      return r[c];
    });
    table.push(inferColumn(header[c] === '' ? `Unnamed: ${c}` : header[c], raw));
  }
  return table;
}

/**
 * `left.merge(right, on=key, suffixes=...)` (an inner join): for each left row in order, the right
 * rows with the same key in their order; the key column once, in its left position; other columns
 * both tables have get the suffixes.
 */
export function mergeTables(left: Table, right: Table, key: string, suffixes: [string, string], rightName: string): Table {
  const lk = left.find((c) => c.name === key);
  const rk = right.find((c) => c.name === key);
  if (!lk) throw new Error(`internal error: no '${key}' column to merge on`);
  if (!rk) throw new StageError(`${rightName}: no '${key}' column; expected one to merge the quality metrics on`);
  if (rk.kind !== 'int' && rk.kind !== 'float') {
    throw new StageError(`${rightName}: column '${key}' holds text; expected integer cluster ids`);
  }
  const rightRows = new Map<number, number[]>();
  rk.values.forEach((v, r) => {
    const k = v as number;
    if (Number.isNaN(k)) return;
    let l = rightRows.get(k);
    if (!l) rightRows.set(k, l = []);
    l.push(r);
  });
  const pairs: Array<[number, number]> = [];
  lk.values.forEach((v, l) => { for (const r of rightRows.get(v as number) ?? []) pairs.push([l, r]); });
  const leftNames = new Set(left.map((c) => c.name));
  const rightNames = new Set(right.map((c) => c.name));
  const out: Table = [];
  for (const c of left) {
    const name = c.name !== key && rightNames.has(c.name) ? c.name + suffixes[0] : c.name;
    out.push({ name, kind: c.kind, values: pairs.map(([l]) => c.values[l]) });
  }
  for (const c of right) {
    if (c.name === key) continue;
    const name = leftNames.has(c.name) ? c.name + suffixes[1] : c.name;
    out.push({ name, kind: c.kind, values: pairs.map(([, r]) => c.values[r]) });
  }
  return out;
}
