/**
 * `builtin_sorter_params` with the defaults of schema.json filled in. The schema is the one place
 * the defaults live; the engine validates input JSONs against it before a job runs, and the checks
 * here repeat the essentials for a stage run by hand through the host.
 */
import fs from 'node:fs';
import path from 'node:path';
import { StageError } from '../../lib/builtin/stage.js';
import { stagesSourceDir } from '../../lib/base/paths.js';

export interface SorterParams {
  detect_threshold: number;
  smoothing_taps: number;
  neighbourhood_radius: number;
  dedup_window_ms: number;
  snippet_pre_samples: number;
  snippet_samples: number;
  pca_components: number;
  cluster_dimensions: number;
  initial_clusters: number;
  min_cluster_spikes: number;
  min_unit_spikes: number;
  isocut_threshold: number;
  separation_threshold: number;
  merge_radius: number;
  merge_max_difference: number;
  refractory_ms: number;
  max_contamination: number;
  min_good_spikes: number;
  max_spikes_per_template: number;
  noise_windows: number;
  noise_window_seconds: number;
  basis_seconds: number;
  chunk_seconds: number;
  seed: number;
  workers: number;
}

interface PropertySchema { type: 'number' | 'integer'; default: number; minimum?: number; maximum?: number; exclusiveMinimum?: number }

let cached: Record<string, PropertySchema> | undefined;

function paramSchemas(): Record<string, PropertySchema> {
  if (!cached) {
    const schema = JSON.parse(fs.readFileSync(path.join(stagesSourceDir, 'builtin_sorter', 'schema.json'), 'utf8'));
    cached = schema.properties.builtin_sorter_params.properties as Record<string, PropertySchema>;
  }
  return cached;
}

export function defaultParams(): SorterParams {
  return Object.fromEntries(Object.entries(paramSchemas()).map(([k, s]) => [k, s.default])) as unknown as SorterParams;
}

export function readParams(section: unknown): SorterParams {
  const given = (section ?? {}) as Record<string, unknown>;
  if (typeof given !== 'object' || Array.isArray(given)) throw new StageError('builtin_sorter_params must be an object');
  const schemas = paramSchemas();
  const out: Record<string, number> = {};
  for (const key of Object.keys(given)) {
    if (!(key in schemas)) throw new StageError(`builtin_sorter_params: unknown key '${key}' (known: ${Object.keys(schemas).join(', ')})`);
  }
  for (const [key, s] of Object.entries(schemas)) {
    const v = given[key] ?? s.default;
    const where = `builtin_sorter_params.${key}`;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new StageError(`${where} must be a number (got ${JSON.stringify(v)})`);
    if (s.type === 'integer' && !Number.isInteger(v)) throw new StageError(`${where} must be an integer (got ${v})`);
    if (s.minimum !== undefined && v < s.minimum) throw new StageError(`${where} must be at least ${s.minimum} (got ${v})`);
    if (s.maximum !== undefined && v > s.maximum) throw new StageError(`${where} must be at most ${s.maximum} (got ${v})`);
    if (s.exclusiveMinimum !== undefined && v <= s.exclusiveMinimum) throw new StageError(`${where} must be above ${s.exclusiveMinimum} (got ${v})`);
    out[key] = v;
  }
  const p = out as unknown as SorterParams;
  if (p.smoothing_taps % 2 === 0) throw new StageError(`builtin_sorter_params.smoothing_taps must be odd (got ${p.smoothing_taps})`);
  if (p.snippet_pre_samples >= p.snippet_samples) {
    throw new StageError(`builtin_sorter_params.snippet_pre_samples (${p.snippet_pre_samples}) must be below snippet_samples (${p.snippet_samples})`);
  }
  return p;
}
