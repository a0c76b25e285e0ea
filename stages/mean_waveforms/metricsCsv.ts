/**
 * waveform_metrics.csv as the module's `metrics.to_csv(path)` writes it: pandas' layout with an
 * unnamed index column (every row's index is 0, because each unit's one-row frame is
 * concatenated without resetting it), floats in Python's shortest repr, NaN as an empty field.
 * With no unit to report the module's empty DataFrame would write '""'; the header alone is
 * written here, which readers of the table handle.
 */
import { pyFloatRepr } from '../../lib/numeric/pyFloatRepr.js';
import type { WaveformMetrics } from './metrics.js';

export interface MetricsRow extends WaveformMetrics {
  cluster_id: number;
  epoch_name: string;
  peak_channel: number;
}

export const metricsColumns = [
  'cluster_id', 'epoch_name', 'peak_channel', 'snr', 'duration', 'halfwidth', 'PT_ratio',
  'repolarization_slope', 'recovery_slope', 'amplitude', 'spread', 'velocity_above', 'velocity_below',
] as const;

const integerColumns = new Set(['cluster_id', 'peak_channel']);

function cell(column: string, v: number | string): string {
  if (typeof v === 'string') return v;
  if (integerColumns.has(column)) return String(v);
  return Number.isNaN(v) ? '' : pyFloatRepr(v);
}

export function metricsCsvText(rows: MetricsRow[]): string {
  let text = ',' + metricsColumns.join(',') + '\n';
  for (const r of rows) text += '0,' + metricsColumns.map((c) => cell(c, r[c])).join(',') + '\n';
  return text;
}
