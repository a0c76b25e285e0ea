/**
 * The Kilosort / Phy output folder (reference §3.2) with Kilosort 2's dtypes and shapes, written
 * file by file atomically. pc_features.npy is written by the projection pass itself (see sort.ts).
 */
import path from 'node:path';
import { writeFileAtomic } from '../../lib/base/atomicFile.js';
import { writeNpy } from '../../lib/formats/npy.js';
import { pyFloatRepr } from '../../lib/numeric/pyFloatRepr.js';

export const templateLength = 82;
/** Kilosort 2 pads templates with 1 + nt0min = 21 leading zeros (template_zero_padding). */
export const templatePadding = 21;

export interface PhyFolder {
  dir: string;
  times: Float64Array;
  clusters: Uint32Array;
  amplitudes: Float64Array;
  /** [template][82][channel] whitened. */
  templates: Float32Array;
  templateCount: number;
  channelMap: Int32Array;
  /** [channel][x, y] in µm. */
  positions: Float64Array;
  /** [template][pcChannels] indices into channelMap. */
  pcFeatureInd: Uint32Array;
  pcChannels: number;
  whitening: Float64Array;
  whiteningInv: Float64Array;
  labels: string[];
  contaminationPct: number[];
  amplitudeUv: number[];
  datPath: string;
  numChannelsDat: number;
  sampleRateHz: number;
}

function pythonString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function tsv(header: string, ids: number, value: (i: number) => string): string {
  const lines = [header];
  for (let i = 0; i < ids; i++) lines.push(`${i}\t${value(i)}`);
  return lines.join('\n') + '\n';
}

export function writePhyFolder(f: PhyFolder): string[] {
  const N = f.times.length, T = f.templateCount, C = f.channelMap.length;
  const out = (name: string) => path.join(f.dir, name);
  const written: string[] = [];
  const npy = (name: string, arr: Parameters<typeof writeNpy>[1]) => { writeNpy(out(name), arr); written.push(name); };
  const text = (name: string, content: string) => { writeFileAtomic(out(name), content); written.push(name); };

  npy('spike_times.npy', { dtype: 'uint64', shape: [N, 1], data: BigUint64Array.from(f.times, (t) => BigInt(t)) });
  npy('spike_templates.npy', { dtype: 'uint32', shape: [N, 1], data: Uint32Array.from(f.clusters) });
  npy('spike_clusters.npy', { dtype: 'uint32', shape: [N, 1], data: Uint32Array.from(f.clusters) });
  npy('amplitudes.npy', { dtype: 'float64', shape: [N, 1], data: Float64Array.from(f.amplitudes) });
  npy('templates.npy', { dtype: 'float32', shape: [T, templateLength, C], data: f.templates });
  const ind = new Float64Array(T * C);
  for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) ind[t * C + c] = c;
  npy('templates_ind.npy', { dtype: 'float64', shape: [T, C], data: ind });
  npy('channel_map.npy', { dtype: 'int32', shape: [C, 1], data: Int32Array.from(f.channelMap) });
  npy('channel_positions.npy', { dtype: 'float64', shape: [C, 2], data: f.positions });
  npy('pc_feature_ind.npy', { dtype: 'uint32', shape: [T, f.pcChannels], data: f.pcFeatureInd });
  npy('whitening_mat.npy', { dtype: 'float64', shape: [C, C], data: f.whitening });
  npy('whitening_mat_inv.npy', { dtype: 'float64', shape: [C, C], data: f.whiteningInv });

  text('cluster_KSLabel.tsv', tsv('cluster_id\tKSLabel', T, (i) => f.labels[i]));
  // Kilosort 2.5 and later copy the labels to cluster_group.tsv (header KSLabel), which
  // load_kilosort_data reads when Phy has not written one.
  text('cluster_group.tsv', tsv('cluster_id\tKSLabel', T, (i) => f.labels[i]));
  text('cluster_ContamPct.tsv', tsv('cluster_id\tContamPct', T, (i) => f.contaminationPct[i].toFixed(1)));
  text('cluster_Amplitude.tsv', tsv('cluster_id\tAmplitude', T, (i) => f.amplitudeUv[i].toFixed(1)));
  text('params.py', [
    `dat_path = ${pythonString(f.datPath)}`,
    `n_channels_dat = ${f.numChannelsDat}`,
    `dtype = 'int16'`,
    `offset = 0`,
    `sample_rate = ${pyFloatRepr(f.sampleRateHz)}`,
    `hp_filtered = False`,
    '',
  ].join('\n'));
  return written;
}
