/**
 * The pipeline.yaml `ephys-make init` writes, made from the pipelines that ship with ephys-make so
 * their stage definitions and create_input_json.py values stay in one place: the Allen chain from
 * pipeline.yaml, the chain of built-in stages from examples/demo.pipeline.yaml. Only what the
 * recordings found decide is changed (recordings, python, the depth-estimation windows and
 * saline channels), and the stages this machine cannot run are swapped for built-ins, each with
 * a comment saying so.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML, { type Document, type YAMLMap } from 'yaml';
import { packageRoot } from '../base/paths.js';
import type { FoundLayout } from './initScan.js';

export interface PipelineChoices {
  chain: 'allen' | 'builtin';
  /** The `python:` value (Allen chain). */
  python?: string;
  /** Kilosort 4 with a Python that imports kilosort and torch (on the CPU where torch sees no CUDA), else the built-in sorter. */
  sorter: { kind: 'kilosort4'; python: string; cpu: boolean } | { kind: 'builtin_sorter' };
  layout: FoundLayout;
  root: string;
  match: string;
  /** Shortest recording, seconds: the depth-estimation windows must fit in it. */
  shortestSeconds?: number;
  /** Fewest AP channels: the saline channels are the top ten of them. */
  apChannels?: number;
  /** Some recordings are NP2.0 (one wide band): depth estimation reads its LFP from the AP file. */
  lfpFromAp?: { sampleRateHz: number };
  header: string;
}

/** The Allen depth-estimation windows need this long: start_time + skip_s_per_pass x (n_passes - 1) + time_interval. */
export function depthWindows(shortestSeconds: number | undefined, allen: { n_passes: number; skip_s_per_pass: number; start_time: number; time_interval: number }) {
  const need = allen.start_time + allen.skip_s_per_pass * (allen.n_passes - 1) + allen.time_interval;
  if (shortestSeconds === undefined || shortestSeconds >= need) return { ...allen, shortened: false, need };
  // The demo's windows for short recordings: 2 s of AP from 1 s on, passes 5 s apart.
  const n = Math.max(1, Math.min(allen.n_passes, Math.floor((shortestSeconds - 3) / 5) + 1));
  return { n_passes: n, skip_s_per_pass: 5, start_time: 1, time_interval: 2, shortened: true, need };
}

function load(file: string): Document {
  return YAML.parseDocument(fs.readFileSync(path.join(packageRoot, file), 'utf8'));
}

function stageNode(doc: Document, name: string): YAMLMap {
  const node = doc.getIn(['stages', name], true) as YAMLMap | undefined;
  if (!node) throw new Error(`internal error: the shipped pipeline has no stage '${name}'`);
  return node;
}

export interface MadePipeline { text: string; notes: string[] }

export function makePipeline(c: PipelineChoices): MadePipeline {
  const notes: string[] = [];
  const doc = c.chain === 'allen' ? load('pipeline.yaml') : load(path.join('examples', 'demo.pipeline.yaml'));
  const allenDoc = c.chain === 'allen' ? doc : load('pipeline.yaml');
  doc.commentBefore = c.header;

  const ready = doc.createNode(c.layout === 'spikeglx' ? { settle_seconds: 30, when: '*.ap.meta' } : { settle_seconds: 60 }) as YAMLMap;
  ready.flow = true;
  const recordings = doc.createNode({ root: c.root, match: c.match, output: '{recording}', layout: 'auto' }) as YAMLMap;
  recordings.set('ready', ready);
  const output = recordings.items.find((p) => (p.key as any).value === 'output');
  if (output) (output.value as any).comment = ' beside each recording; on another drive, e.g. /scratch/sorted/{name}';
  doc.set('recordings', recordings);

  if (c.chain === 'allen') {
    doc.set('python', c.python);
    // The Allen median program reads 384 channels per sample and must be built here; the built-in
    // reads any channel count. The shipped pipeline may already say so.
    const ms = stageNode(doc, 'median_subtraction');
    if (ms.get('run') !== 'builtin') {
      ms.set('run', 'builtin');
      ms.delete('in_place');
      ms.delete('appends_to');
      ms.setIn(['params', 'median_subtraction_params'], doc.createNode({ output_file: '{output}/continuous_ms.dat', residuals_file: '{output}/residuals.dat' }));
      ms.commentBefore = ' Built in: reads the AP band, writes continuous_ms.dat and residuals.dat. The Allen program\n'
        + ' (SpikeBandMedianSubtraction) reads 384-channel files only; to use it, see the shipped pipeline.yaml.';
    }
    notes.push('median_subtraction runs built in; the Allen program (SpikeBandMedianSubtraction, 384-channel files only) is the commented alternative in the shipped pipeline.yaml');
    const ks = stageNode(doc, 'kilosort');
    if (c.sorter.kind === 'kilosort4' && ks.get('module') === 'kilosort4') {
      ks.set('python', c.sorter.python);
      if (c.sorter.cpu) {
        ks.setIn(['params', 'kilosort4_params', 'device'], 'cpu');
        notes.push(`kilosort: Kilosort 4 with ${c.sorter.python} on the CPU (its torch sees no CUDA device): slow; with a CUDA build of torch, set kilosort4_params.device: auto`);
      } else {
        notes.push(`kilosort: Kilosort 4 with ${c.sorter.python}, on the GPU of the job's gpu pool slot`);
      }
    } else {
      // Only the sections every sorter's input JSON has stay: the Kilosort ones are not the built-in's.
      ks.set('run', 'builtin');
      ks.set('module', 'builtin_sorter');
      for (const key of ['python', 'resources', 'space', 'in_place']) ks.delete(key);
      const params = ks.get('params', true) as unknown as YAMLMap | undefined;
      for (const item of [...(params?.items ?? [])]) {
        const section = String((item.key as any).value);
        if (section !== 'directories' && section !== 'ephys_params') params!.delete(section);
      }
      ks.commentBefore = ' The built-in quick-look sorter stands in for Kilosort here (no Python with kilosort and torch\n'
        + ' was found); same files out. For Kilosort 4: run: python-module, module: kilosort4, python: and\n'
        + ' kilosort4_params as in the shipped pipeline.yaml (ephys-make help kilosort4).';
      notes.push('kilosort: the built-in quick-look sorter stands in for Kilosort 4 (no Python with kilosort and torch was found); see the comment on that stage');
    }
  }

  // Depth estimation: the Allen values, with windows that fit the recordings and the top ten AP
  // channels as the saline reference.
  const allenDepth = (allenDoc.getIn(['stages', 'depth_estimation', 'params', 'depth_estimation_params']) as YAMLMap).toJSON();
  const windows = depthWindows(c.shortestSeconds, allenDepth);
  const depth = { ...allenDepth, n_passes: windows.n_passes, skip_s_per_pass: windows.skip_s_per_pass, start_time: windows.start_time, time_interval: windows.time_interval };
  if (c.apChannels) depth.channel_range = [Math.max(0, c.apChannels - 10), c.apChannels];
  const depthNode = doc.createNode(depth) as YAMLMap;
  const channelRange = depthNode.get('channel_range', true) as any;
  if (channelRange) channelRange.flow = true;
  const freqRange = depthNode.get('freq_range', true) as any;
  if (freqRange) freqRange.flow = true;
  const de = stageNode(doc, 'depth_estimation');
  de.setIn(['params', 'depth_estimation_params'], depthNode);
  const deParams = de.get('params', true) as unknown as YAMLMap;
  const dePair = deParams.items.find((p) => (p.key as any).value === 'depth_estimation_params');
  if (dePair) {
    (dePair.key as any).commentBefore = windows.shortened
      ? ` The Allen windows need ${windows.need} s of data; the shortest recording has ${c.shortestSeconds!.toFixed(1)} s.`
      : undefined;
  }
  notes.push(`depth_estimation_params.channel_range ${JSON.stringify(depth.channel_range)}: the channels taken to be out of the brain (saline or air) for the surface estimate; check it for your insertions`);
  if (windows.shortened) notes.push(`depth estimation: ${windows.n_passes} pass${windows.n_passes === 1 ? '' : 'es'} of ${windows.time_interval} s (the Allen values need ${windows.need} s of data; the shortest recording has ${c.shortestSeconds!.toFixed(1)} s)`);

  if (c.lfpFromAp) {
    const ephys = doc.getIn(['params', 'ephys_params'], true) as YAMLMap;
    ephys.set('lfp_band_file', '{marker}');
    ephys.set('lfp_sample_rate', c.lfpFromAp.sampleRateHz);
    const pair = ephys.items.find((p) => (p.key as any).value === 'lfp_band_file');
    if (pair) (pair.key as any).commentBefore = ' NP2.0 records one wide band: depth estimation reads its LFP from the AP file. A recording\n with its own LFP band (.lf.bin, an LFP folder) gets that from its metadata instead.';
    notes.push('NP2.0 recordings have no separate LFP band: depth estimation reads the low frequencies from the AP file (params.ephys_params.lfp_band_file)');
  }
  return { text: doc.toString({ lineWidth: 0, flowCollectionPadding: false }), notes };
}
