/**
 * Built-in `kilosort_postprocessing`: removes double-counted spikes (the rule is in
 * doubleCounted.ts) and writes spike_times.npy, spike_clusters.npy, spike_templates.npy (1-D),
 * amplitudes.npy and pc_features.npy (when Kilosort wrote PCs; both with Kilosort's row shape,
 * amplitudes (N, 1)), and overlap_matrix.npy (float64, templates x templates), with the dtypes
 * Kilosort used.
 *
 * Unlike the Allen module it never compounds: in place, it reads Kilosort's arrays from the
 * originals it kept (keptOriginals.ts); with `ks_postprocessing_params.output_directory` it leaves
 * the Kilosort folder untouched and makes a complete Phy folder elsewhere (phyFolder.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { StageError, type BuiltinStage, type InputJson } from '../../lib/builtin/stage.js';
import { loadKilosortFolder } from '../../lib/formats/kilosort.js';
import { inputKilosortDir } from '../../lib/builtin/stageInput.js';
import { statSignature } from '../../lib/base/signature.js';
import { peakChannelIndex } from '../../lib/numeric/templatePeaks.js';
import { removeDoubleCountedSpikes } from './doubleCounted.js';
import { announceOutputs, resolveSources, rewrittenNames, settleOutputs } from './keptOriginals.js';
import { abortAll, asDtype, commitAll, keptValues, stageArray, stagedPath, stageKeptRows, type StagedFile } from './spikeArrays.js';
import { copyPhyFolder } from './phyFolder.js';

export interface PostprocessingParams {
  kilosortDir: string;
  outputDir: string;
  sampleRateHz: number;
  withinUnitOverlapWindowS: number;
  betweenUnitOverlapWindowS: number;
  betweenUnitChannelDistance: number;
}

function numberParam(section: Record<string, unknown>, key: string, fallback: number, where: string): number {
  const v = section[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new StageError(`${where}.${key}: ${JSON.stringify(v)}; expected a number`);
  return v;
}

export function readParams(input: InputJson): PostprocessingParams {
  const kilosortDir = inputKilosortDir(input);
  const ephys = input.ephys_params ?? {};
  const p = input.ks_postprocessing_params ?? {};
  const out = p.output_directory;
  if (out !== undefined && (typeof out !== 'string' || out === '')) {
    throw new StageError(`ks_postprocessing_params.output_directory: ${JSON.stringify(out)}; expected a folder path`);
  }
  const sampleRateHz = numberParam(ephys, 'sample_rate', 30000, 'ephys_params');
  if (!(sampleRateHz > 0)) throw new StageError(`ephys_params.sample_rate: ${sampleRateHz}; expected a positive number`);
  return {
    kilosortDir: path.resolve(kilosortDir),
    outputDir: path.resolve(out ?? kilosortDir),
    sampleRateHz,
    withinUnitOverlapWindowS: numberParam(p, 'within_unit_overlap_window', 0.000166, 'ks_postprocessing_params'),
    betweenUnitOverlapWindowS: numberParam(p, 'between_unit_overlap_window', 0.000166, 'ks_postprocessing_params'),
    betweenUnitChannelDistance: numberParam(p, 'between_unit_channel_distance', 5, 'ks_postprocessing_params'),
  };
}

/** Same folder, however spelt (symlinks, trailing slashes). */
function isSameFolder(a: string, b: string): boolean {
  const real = (p: string) => { try { return fs.realpathSync(p); } catch { return path.resolve(p); } };
  return real(a) === real(b);
}

const isUnsigned = (dtype: string) => dtype.startsWith('uint');

export interface PostprocessingSummary {
  spikesBefore: number;
  spikesAfter: number;
  withinUnitRemoved: number;
  betweenUnitRemoved: number;
  inPlace: boolean;
}

export async function runPostprocessing(
  params: PostprocessingParams,
  log: (line: string) => void = () => {},
  progress: (done: number, total: number) => void = () => {},
  signal?: AbortSignal,
): Promise<PostprocessingSummary> {
  const { kilosortDir, outputDir } = params;
  if (!fs.existsSync(kilosortDir) || !fs.statSync(kilosortDir).isDirectory()) {
    throw new StageError(`${kilosortDir}: Kilosort output folder does not exist`);
  }
  const inPlace = isSameFolder(kilosortDir, outputDir);
  const sources = resolveSources(kilosortDir, inPlace);
  log(sources.note);
  const src = sources.dir;

  const folder = loadKilosortFolder(src, { sampleRateHz: params.sampleRateHz, convertToSeconds: false, includePcs: false });
  // As the module does: PCs only when both files are there, else the run goes on without them.
  const hasPcs = fs.existsSync(path.join(src, 'pc_features.npy')) && fs.existsSync(path.join(src, 'pc_feature_ind.npy'));
  const templates = folder.templates!;
  const shape = { samples: folder.templateSamples, channels: folder.channelCount };
  const peakChannels = new Int32Array(folder.templateCount);
  for (let t = 0; t < folder.templateCount; t++) peakChannels[t] = folder.channelMap[peakChannelIndex(templates, t, shape)];

  // Python's int() truncates towards zero: 0.000166 s at 30 kHz is 4 samples, not 5.
  const withinSamples = Math.trunc(params.withinUnitOverlapWindowS * params.sampleRateHz);
  const betweenSamples = Math.trunc(params.betweenUnitOverlapWindowS * params.sampleRateHz);
  const result = removeDoubleCountedSpikes({
    times: folder.spikeTimes,
    timesUnsigned: isUnsigned(folder.layouts['spike_times.npy'].dtype),
    clusters: folder.spikeClusters,
    peakChannels,
    peakChannelsUnsigned: isUnsigned(folder.layouts['channel_map.npy'].dtype),
  }, { withinSamples, betweenSamples, channelDistance: params.betweenUnitChannelDistance }, progress);

  const units = folder.templateCount;
  let withinUnitRemoved = 0;
  for (let k = 0; k < units; k++) withinUnitRemoved += result.overlapMatrix[k * units + k];
  const removed = folder.spikeCount - result.keptCount;
  log(`removed ${removed} of ${folder.spikeCount} spikes: ${withinUnitRemoved} within units, ${removed - withinUnitRemoved} between units (windows ${withinSamples} and ${betweenSamples} samples)`);

  const { keep, keptCount } = result;
  const at = (name: string) => path.join(outputDir, name);
  const layoutOf = (name: string) => folder.layouts[name];
  const staged: StagedFile[] = [];
  try {
    staged.push(stageArray(at('spike_times.npy'), { dtype: layoutOf('spike_times.npy').dtype, shape: [keptCount], data: keptValues(folder.spikeTimesRaw, keep, keptCount) }));
    // The module squeezes the id and time arrays but deletes rows of amplitudes as loaded: Kilosort's
    // (N, 1) stays (N', 1).
    staged.push(stageArray(at('amplitudes.npy'), { dtype: layoutOf('amplitudes.npy').dtype, shape: [keptCount, ...layoutOf('amplitudes.npy').shape.slice(1)], data: asDtype(keptValues(folder.amplitudes, keep, keptCount), layoutOf('amplitudes.npy').dtype) }));
    staged.push(stageArray(at('spike_clusters.npy'), { dtype: layoutOf('spike_clusters.npy').dtype, shape: [keptCount], data: asDtype(keptValues(folder.spikeClusters, keep, keptCount), layoutOf('spike_clusters.npy').dtype) }));
    staged.push(stageArray(at('spike_templates.npy'), { dtype: layoutOf('spike_templates.npy').dtype, shape: [keptCount], data: asDtype(keptValues(folder.spikeTemplates, keep, keptCount), layoutOf('spike_templates.npy').dtype) }));
    if (hasPcs) staged.push(stageKeptRows(path.join(src, 'pc_features.npy'), at('pc_features.npy'), keep, keptCount, signal));
    // The Allen module leaves template_features.npy with the old row count; a folder of our own
    // making is for Phy, which needs one row per spike, so there it is filtered too.
    const templateFeatures = path.join(src, 'template_features.npy');
    if (!inPlace && fs.existsSync(templateFeatures)) staged.push(stageKeptRows(templateFeatures, at('template_features.npy'), keep, keptCount, signal));
    staged.push(stageArray(at('overlap_matrix.npy'), { dtype: 'float64', shape: [units, units], data: result.overlapMatrix }));

    const outputs: Record<string, string> = {};
    if (inPlace) {
      // Record our outputs before they land: a crash between the renames leaves files that are
      // either Kilosort's or recorded as ours, never unknown ones taken for Kilosort's.
      for (const f of staged) {
        const sig = statSignature(stagedPath(f));
        if (sig) outputs[path.basename(f.target)] = sig;
      }
      announceOutputs(kilosortDir, outputs);
    } else {
      const written = new Set(staged.map((f) => path.basename(f.target)));
      const copied = copyPhyFolder(kilosortDir, outputDir, written);
      log(`copied ${copied.length} files of ${kilosortDir} to ${outputDir}`);
      // A rewritten array this run has no source for must not linger from an earlier run.
      for (const name of rewrittenNames) {
        if (!written.has(name) && !copied.includes(name)) fs.rmSync(at(name), { force: true });
      }
    }
    commitAll(staged);
    if (inPlace) settleOutputs(kilosortDir, outputs);
  } catch (err) {
    abortAll(staged);
    throw err;
  }
  return { spikesBefore: folder.spikeCount, spikesAfter: keptCount, withinUnitRemoved, betweenUnitRemoved: removed - withinUnitRemoved, inPlace };
}

export const stage: BuiltinStage = {
  version: '1',
  async run(input, ctx) {
    await runPostprocessing(readParams(input), ctx.log, (done, total) => ctx.progress(done, total, 'items'), ctx.signal);
    return {};
  },
};
