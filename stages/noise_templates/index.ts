/**
 * Built-in `noise_templates`: labels each cluster 'good' or 'noise' with the module's rule-based
 * classifier (noiseRules.ts) and writes `<kilosort_output_directory>/<cluster_group_file_name>`
 * (`cluster_id<TAB>group`). Cluster ids come from cluster_group.tsv when Kilosort wrote one, else
 * from spike_clusters.npy, and index the templates directly, as in the module.
 *
 * `classifier_path` is required, as by the module, though only its unused random-forest variant
 * reads it. `multiprocessing_worker_count` is accepted and ignored: one template takes a few
 * milliseconds here.
 */
import path from 'node:path';
import { StageError, type BuiltinStage, type InputJson } from '../../lib/builtin/stage.js';
import { loadKilosortFolder, type TemplateLayout } from '../../lib/formats/kilosort.js';
import { inputKilosortDir } from '../../lib/builtin/stageInput.js';
import { writeClusterGroupTsv } from '../../lib/formats/clusterGroup.js';
import { classifyTemplate, defaultNoiseWaveformParams, NoiseRuleError, type NoiseWaveformParams, type TemplateVerdict } from './noiseRules.js';
import { probeGrid } from './spatialPeaks.js';
import { TriangulationError } from './delaunay.js';

export interface NoiseTemplatesParams {
  kilosortDir: string;
  sampleRateHz: number;
  clusterGroupFileName: string;
  rules: NoiseWaveformParams;
}

export function readParams(input: InputJson): NoiseTemplatesParams {
  const kilosortDir = inputKilosortDir(input);
  const ephys = input.ephys_params ?? {};
  const section = input.noise_waveform_params ?? {};
  if (typeof section.classifier_path !== 'string') {
    throw new StageError('noise_waveform_params.classifier_path: missing; the module requires it (its value is not used)');
  }
  const rules = { ...defaultNoiseWaveformParams };
  for (const key of Object.keys(rules) as Array<keyof NoiseWaveformParams>) {
    const v = section[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new StageError(`noise_waveform_params.${key}: ${JSON.stringify(v)}; expected a number`);
    rules[key] = v;
  }
  const name = ephys.cluster_group_file_name ?? 'cluster_group.tsv';
  if (typeof name !== 'string' || name === '' || name.includes('/')) {
    throw new StageError(`ephys_params.cluster_group_file_name: ${JSON.stringify(name)}; expected a file name`);
  }
  return { kilosortDir: path.resolve(kilosortDir), sampleRateHz: ephys.sample_rate ?? 30000, clusterGroupFileName: name, rules };
}

export interface NoiseTemplatesResult { clusterIds: number[]; labels: string[]; verdicts: TemplateVerdict[]; file: string; layout: TemplateLayout }

export function runNoiseTemplates(params: NoiseTemplatesParams, progress: (done: number, total: number) => void = () => {}): NoiseTemplatesResult {
  const folder = loadKilosortFolder(params.kilosortDir, { sampleRateHz: params.sampleRateHz, convertToSeconds: true });
  const templates = { data: folder.templates!, count: folder.templateCount, samples: folder.templateSamples, channels: folder.channelCount };
  const verdicts: TemplateVerdict[] = [];
  try {
    const grid = probeGrid(folder.channelMap);
    for (let k = 0; k < templates.count; k++) {
      verdicts.push(classifyTemplate(templates, k, grid, folder.channelMap, params.rules));
      progress(k + 1, templates.count);
    }
  } catch (err) {
    if (err instanceof TriangulationError) throw new StageError(`${path.join(folder.dir, 'channel_map.npy')}: ${err.message}`);
    if (err instanceof NoiseRuleError) throw new StageError(err.message);
    throw err;
  }
  const labels = folder.clusterIds.map((id) => {
    // The module indexes its per-template flags with cluster ids: a merged cluster has no template.
    if (!(id >= 0 && id < verdicts.length)) {
      throw new StageError(`${folder.dir}: cluster ${id} has no template (templates.npy has ${verdicts.length}); noise_templates labels Kilosort's clusters before any merge`);
    }
    return verdicts[id].isNoise ? 'noise' : 'good';
  });
  const file = path.join(params.kilosortDir, params.clusterGroupFileName);
  writeClusterGroupTsv(file, folder.clusterIds, labels);
  return { clusterIds: folder.clusterIds, labels, verdicts, file, layout: folder.templateLayout };
}

export const stage: BuiltinStage = {
  // 2: templates' layout recognised from the file (Kilosort 4's 61 unpadded samples are no longer cut).
  version: '2',
  async run(input, ctx) {
    const result = runNoiseTemplates(readParams(input), (done, total) => ctx.progress(done, total, 'items'));
    const l = result.layout;
    ctx.log(l.sorter === 'kilosort4' ? 'templates: Kilosort 4 layout (61 samples, trough at 20, no padding): nothing cut' : `templates: Kilosort 2 layout: the first ${l.paddingSamples} samples cut, as the Allen module does`);
    const noisy = result.labels.filter((l) => l === 'noise').length;
    ctx.log(`${noisy} of ${result.labels.length} clusters labelled noise; wrote ${result.file}`);
    return {};
  },
};
