/**
 * Comparing a built-in's metrics table with the real module's runs (the quality_metrics golden):
 * where every run of the module gave the same value (it is deterministic there), the built-in must
 * give it too, within a relative tolerance; where the runs differ (the module's PC subsamples are
 * drawn unseeded in joblib workers), the built-in must lie within the range of the module's runs,
 * on several cores and on one. And its PC columns must equal the module's one-core run, whose draws
 * all come from the seeded main generator, except where the module's own runs disagree on whether
 * there is a value at all (NaN in some, a number in others): that is a covariance singular up to
 * rounding (a unit with as many spikes as features), whose inverse is rounding noise that changes
 * with the order of the rows; there the built-in must only lie within the runs, or, where every
 * finite value of the module's is itself rounding noise (beyond 1e10: an isolation distance of
 * 1e15 one run and NaN the next), be NaN or beyond 1e10 too. `outsideSeveralCores`
 * counts, for the record, the random cells outside the range of the several-core runs alone (a few
 * runs span only part of the distribution of, say, an L-ratio).
 */
import { parseCsv } from '../../stages/quality_metrics/metricsTable.js';
import { relDiff } from './fixtures.js';

export const pcColumns = ['isolation_distance', 'l_ratio', 'd_prime', 'nn_hit_rate', 'nn_miss_rate'];

export type Row = Array<number | string>;
export interface Values { columns: string[]; rows: Row[] }

/** A metrics CSV as numbers (empty fields NaN; text kept). */
export function csvValues(text: string): Values {
  const [header, ...records] = parseCsv(text);
  return { columns: header, rows: records.map((r) => r.map((v) => (v === '' ? NaN : Number.isNaN(Number(v)) ? v : Number(v)))) };
}

export interface ColumnReport {
  column: string;
  /** Cells where every module run agreed, and the largest relative difference of the built-in there. */
  deterministic: number;
  maxRel: number;
  /** Cells where the module's runs differ, and how many of them the built-in lies outside the runs' range. */
  random: number;
  outside: number;
  outsideSeveralCores: number;
  /** Random cells where the module's runs disagree on NaN (rounding-unstable). */
  unstable: number;
  /** Largest relative difference from the module's one-core run (PC columns). */
  maxRelOneCore: number;
  /** Cells above the tolerance (deterministic) or outside the range (random): "row cluster_id: ours vs module". */
  failures: string[];
}

function asNumber(v: number | string | undefined): number {
  return typeof v === 'number' ? v : NaN;
}

/**
 * Per column of `ours` against the module's multi-core `runs` (and its `oneCore` run, compared for
 * the PC columns). Rows and columns must be the same; text cells must be equal.
 */
export function compareWithModule(ours: Values, runs: Row[][], columns: string[], oneCore: Values | undefined, rel = 1e-9): { reports: ColumnReport[]; layout: string[] } {
  const layout: string[] = [];
  if (ours.columns.join(',') !== columns.join(',')) layout.push(`columns differ:\n  ours:   ${ours.columns.join(',')}\n  module: ${columns.join(',')}`);
  if (ours.rows.length !== runs[0].length) layout.push(`rows differ: ours ${ours.rows.length}, module ${runs[0].length}`);
  if (layout.length) return { reports: [], layout };
  const idCol = columns.indexOf('cluster_id');
  const reports: ColumnReport[] = [];
  columns.forEach((column, c) => {
    if (column === '') return;
    const r: ColumnReport = { column, deterministic: 0, maxRel: 0, random: 0, outside: 0, outsideSeveralCores: 0, unstable: 0, maxRelOneCore: 0, failures: [] };
    for (let i = 0; i < ours.rows.length; i++) {
      const mine = ours.rows[i][c];
      const id = ours.rows[i][idCol];
      if (typeof mine === 'string' || runs.some((run) => typeof run[i][c] === 'string')) {
        if (runs.some((run) => run[i][c] !== mine)) r.failures.push(`cluster ${id}: '${mine}' vs '${runs[0][i][c]}'`);
        continue;
      }
      const theirs = runs.map((run) => asNumber(run[i][c]));
      const agree = theirs.every((v) => relDiff(v, theirs[0]) <= rel);
      const unstable = theirs.some(Number.isNaN) && !theirs.every(Number.isNaN);
      if (unstable) r.unstable++;
      if (oneCore && pcColumns.includes(column) && !unstable) {
        const d = relDiff(mine, asNumber(oneCore.rows[i][c]));
        r.maxRelOneCore = Math.max(r.maxRelOneCore, d);
        if (d > rel) r.failures.push(`cluster ${id}: ${mine} vs one-core module ${oneCore.rows[i][c]}`);
      }
      if (agree) {
        r.deterministic++;
        const d = relDiff(mine, theirs[0]);
        r.maxRel = Math.max(r.maxRel, d);
        if (d > rel) r.failures.push(`cluster ${id}: ${mine} vs module ${theirs[0]}`);
      } else {
        r.random++;
        const within = (values: number[]): boolean => {
          const finite = values.filter((v) => !Number.isNaN(v));
          if (Number.isNaN(mine)) return finite.length < values.length;
          return finite.length > 0 && mine >= Math.min(...finite) * (1 - Math.sign(Math.min(...finite)) * rel) && mine <= Math.max(...finite) * (1 + Math.sign(Math.max(...finite)) * rel);
        };
        if (!within(theirs)) r.outsideSeveralCores++;
        const all = oneCore ? [...theirs, asNumber(oneCore.rows[i][c])] : theirs;
        // A singular covariance: no value carries information, only its kind can be compared.
        const noise = (v: number) => Number.isNaN(v) || Math.abs(v) > 1e10;
        const singular = unstable && all.every(noise) && noise(mine);
        if (!within(all) && !singular) { r.outside++; r.failures.push(`cluster ${id}: ${mine} outside the module's runs ${all.join(', ')}`); }
      }
    }
    reports.push(r);
  });
  return { reports, layout };
}
