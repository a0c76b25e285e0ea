/**
 * The shipped pipeline.yaml against the Allen create_input_json.py: for an Open Ephys and a
 * SpikeGLX recording, every stage's input JSON (from `ephys-make input-json`) must be what the
 * module would run with under create_input_json.py's JSON (its sections, argschema semantics:
 * unknown keys dropped, defaults filled), apart from the differences listed in `intended`. The
 * modules' fields and defaults are their own, dumped from their argschema schemas by
 * `npm run golden` (test/fixtures/golden/argschema_defaults.json), never our stages/NAME/schema.json.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { runCli, timed } from './rig.js';
import { makeLab, readRecordingValues, type Lab, type Layout } from './labs.js';
import { goldenDir, readJson } from '../bench/oracle/fixtures.js';

type Json = Record<string, any>;

const stages = ['depth_estimation', 'median_subtraction', 'kilosort', 'kilosort_postprocessing', 'noise_templates', 'mean_waveforms', 'quality_metrics'];
const moduleOf = (stage: string) => (stage === 'kilosort' ? 'kilosort_helper' : stage);

async function inputJsonOf(lab: Lab, stage: string): Promise<Json> {
  const r = await runCli(['input-json', stage, '-f', lab.pipeline], { cwd: lab.dir });
  assert.is(r.code, 0, `input-json ${stage}: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout);
}

// ---------------------------------------------------------------------------------------------
// create_input_json.py (reference §2.1), called with this recording's folders:
// createInputJson(out, continuous_file=AP, extracted_data_directory=E, kilosort_output_directory=K, probe_type=P)

function createInputJson(o: { E: string; K: string; AP: string; LFP: string; probeType: string }): Json {
  const acq = o.probeType === '3A' ? '3a' : 'PXI';
  return {
    directories: { extracted_data_directory: o.E, kilosort_output_directory: o.K, kilosort_output_tmp: 'C:\\data\\kilosort' },
    common_files: { settings_json: path.join(o.E, 'open-ephys.json'), probe_json: path.join(o.E, 'probe_info.json') },
    waveform_metrics: { waveform_metrics_file: path.join(o.K, 'waveform_metrics.csv') },
    ephys_params: {
      sample_rate: 30000, lfp_sample_rate: 2500, bit_volts: 0.195, num_channels: 384,
      reference_channels: acq === '3a' ? [36, 75, 112, 151, 188, 227, 264, 303, 340, 379] : [191],
      vertical_site_spacing: 10e-6, ap_band_file: o.AP, lfp_band_file: o.LFP,
      reorder_lfp_channels: o.probeType === '3A', cluster_group_file_name: 'cluster_group.tsv.v2',
    },
    depth_estimation_params: {
      hi_noise_thresh: 50.0, lo_noise_thresh: 3.0, save_figure: 1, figure_location: path.join(o.E, 'probe_depth.png'),
      smoothing_amount: 5, power_thresh: 2.5, diff_thresh: -0.06, freq_range: [0, 10], max_freq: 150,
      channel_range: [374, 384], n_passes: 10, air_gap: 25, time_interval: 5, skip_s_per_pass: 10, start_time: 10,
    },
    median_subtraction_params: {
      median_subtraction_executable: 'C:\\Users\\svc_neuropix\\Documents\\GitHub\\spikebandmediansubtraction\\Builds\\VisualStudio2013\\Release\\SpikeBandMedianSubtraction.exe',
      median_subtraction_repo: 'C:\\Users\\svc_neuropix\\Documents\\GitHub\\spikebandmediansubtraction\\',
    },
    kilosort_helper_params: {
      matlab_home_directory: 'C:\\Users\\svc_neuropix\\Documents\\MATLAB',
      kilosort_repository: 'C:\\Users\\svc_neuropix\\Documents\\GitHub\\kilosort2',
      kilosort_version: 2, surface_channel_buffer: 15,
      kilosort2_params: {
        chanMap: "'chanMap.mat'", fshigh: 150, minfr_goodchannels: 0.1, Th: '[10 4]', lam: 10, AUCsplit: 0.9,
        minFR: 1 / 50, momentum: '[20 400]', sigmaMask: 30, ThPre: 8,
      },
      kilosort3_params: {
        chanMap: "'chanMap.mat'", fshigh: 300, minfr_goodchannels: 0.1, Th: '[9 9]', lam: 10, AUCsplit: 0.8,
        minFR: 1 / 50, momentum: '[20 400]', sigmaMask: 30, ThPre: 8, sig: 20, nblocks: 5,
      },
    },
    ks_postprocessing_params: { within_unit_overlap_window: 0.000166, between_unit_overlap_window: 0.000166, between_unit_overlap_distance: 5 },
    mean_waveform_params: {
      mean_waveforms_file: path.join(o.K, 'mean_waveforms.npy'), samples_per_spike: 82, pre_samples: 20, num_epochs: 1,
      spikes_per_epoch: 1000, spread_threshold: 0.12, site_range: 16,
    },
    noise_waveform_params: { classifier_path: 'C:\\ecephys_spike_sorting\\ecephys_spike_sorting\\modules\\noise_templates\\rf_classifier.pkl', multiprocessing_worker_count: 10 },
    quality_metrics_params: {
      isi_threshold: 0.0015, min_isi: 0.000166, num_channels_to_compare: 7, max_spikes_for_unit: 500, max_spikes_for_nn: 10000,
      n_neighbors: 4, n_silhouette: 10000, drift_metrics_min_spikes_per_interval: 10, drift_metrics_interval_s: 51,
      quality_metrics_output_file: path.join(o.K, 'metrics_test.csv'), include_pc_metrics: true,
    },
  };
}

interface FieldDef { type: string; required: boolean; default?: unknown; fields?: Record<string, FieldDef> }
const argschema: Record<string, Record<string, FieldDef>> = readJson(path.join(goldenDir, 'argschema_defaults.json')).modules;

/** A value as the marshmallow field loads it: Boolean turns 0/1 into false/true. */
function loaded(def: FieldDef, v: unknown): unknown {
  if (def.type === 'Boolean' && (v === 0 || v === 1)) return v === 1;
  return v;
}

/** argschema's DefaultSchema on one section: unknown keys dropped, missing keys with a default filled. */
function loadSection(fields: Record<string, FieldDef>, data: Json): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(data)) {
    const def = fields[k];
    if (!def) continue;
    out[k] = def.fields && v && typeof v === 'object' && !Array.isArray(v) ? loadSection(def.fields, v as Json) : loaded(def, v);
  }
  for (const [k, def] of Object.entries(fields)) if (!(k in out) && 'default' in def) out[k] = structuredClone(def.default);
  return out;
}

/** What a module runs with, given one JSON: the sections its InputParameters declare, each loaded as above. */
function asModuleSees(module: string, allen: Json): Json {
  const top = argschema[module];
  assert.ok(top, `no argschema fields for ${module} in the golden fixture`);
  const json: Json = {};
  for (const [section, def] of Object.entries(top)) {
    if (def.fields && section in allen) json[section] = loadSection(def.fields, allen[section]);
  }
  return json;
}

const set = (json: Json, dotted: string, value: unknown) => {
  const keys = dotted.split('.');
  let cur = json;
  for (const k of keys.slice(0, -1)) cur = cur[k];
  if (value === undefined) delete cur[keys[keys.length - 1]];
  else cur[keys[keys.length - 1]] = value;
};

/** Keys an engine-made copy replaces (in_place): compared in their own test. */
const inPlaceKeys: Record<string, string> = {
  median_subtraction: 'ephys_params.ap_band_file',
  kilosort_postprocessing: 'directories.kilosort_output_directory',
};

/**
 * Where ephys-make means to differ from create_input_json.py, and why. E is the recording folder.
 */
function intended(stage: string, layout: Layout, lab: Lab, expected: Json, recordingValues: Json): Json {
  const out = structuredClone(expected);
  const E = lab.rec;
  const d = (k: string, v: unknown) => { if (k.split('.')[0] in out) set(out, k, v); };
  // Each stage reads the folder it should, never one another stage rewrites: Kilosort writes
  // E/kilosort, postprocessing rewrites a copy of it, the later stages read that copy.
  if (stage === 'kilosort' || stage === 'kilosort_postprocessing') d('directories.kilosort_output_directory', path.join(E, 'kilosort'));
  // Median subtraction writes E/continuous_ms.dat instead of rewriting the raw file.
  if (stage === 'kilosort' || stage === 'mean_waveforms') d('ephys_params.ap_band_file', path.join(E, 'continuous_ms.dat'));
  // The Allen file checks (and Phy users) expect metrics.csv.
  d('quality_metrics_params.quality_metrics_output_file', path.join(E, 'kilosort_postprocessed', 'metrics.csv'));
  // create_input_json.py leaves probe_type out (so '3A' even for PXI); the pipeline says 3B2.
  d('ephys_params.probe_type', '3B2');
  // Paths on this machine instead of the Allen rig's; the Kilosort scratch file and MATLAB
  // folder are per job so two sorts never share them.
  d('median_subtraction_params.median_subtraction_executable', '/opt/SpikeBandMedianSubtraction/Builds/LinuxMakefile/build/SpikeBandMedianSubtraction');
  d('median_subtraction_params.median_subtraction_repo', '/opt/SpikeBandMedianSubtraction');
  d('kilosort_helper_params.matlab_home_directory', path.join(E, '.ephys-make', 'kilosort'));
  d('kilosort_helper_params.kilosort_repository', '/opt/Kilosort2');
  d('kilosort_helper_params.kilosort2_params.fproc', `'${path.join(E, 'kilosort_temp_wh.dat')}'`);
  d('noise_waveform_params.classifier_path', '/opt/ecephys_spike_sorting/ecephys_spike_sorting/modules/noise_templates/rf_classifier.pkl');
  // argschema gives median_subtraction_params (declared as an ArgSchema) its own log_level; no
  // module reads it, and our input JSON leaves it out.
  if (stage === 'median_subtraction') d('median_subtraction_params.log_level', undefined);
  // SpikeGLX (385 channels): the built-in median subtraction, which names its output files and
  // needs no program (the Allen program reads 384 channels per sample).
  if (stage === 'median_subtraction' && layout === 'spikeglx') {
    d('median_subtraction_params', { output_file: path.join(E, 'continuous_ms.dat'), residuals_file: path.join(E, 'residuals.dat') });
  }
  // Values read from the recording replace the shared ones (SpikeGLX: as the SpikeGLX fork
  // reads them, and the LFP rate from the .lf.meta where the fork assumes 2500).
  if ('ephys_params' in out) for (const [k, v] of Object.entries(recordingValues)) set(out, `ephys_params.${k}`, v);
  return out;
}

function withoutInPlaceKey(stage: string, json: Json): Json {
  const out = structuredClone(json);
  if (inPlaceKeys[stage]) set(out, inPlaceKeys[stage], undefined);
  return out;
}

function allenFor(layout: Layout, lab: Lab): Json {
  const E = lab.rec;
  return createInputJson({ E, K: path.join(E, 'kilosort_postprocessed'), AP: lab.ap, LFP: lab.lfp, probeType: '3B2' });
}

/**
 * ephys_params a recording brings: Open Ephys as create_input_json.py's PXI values; SpikeGLX as
 * the SpikeGLX fork reads them from the .meta (§5.3), plus the LFP rate from the .lf.meta.
 */
function recordingValuesFor(layout: Layout, lab: { rec: string; ap: string; lfp: string }): Json {
  if (layout === 'openephys') {
    return { sample_rate: 30000, num_channels: 384, bit_volts: 0.195, reference_channels: [191], reorder_lfp_channels: false, lfp_sample_rate: 2500, lfp_band_file: lab.lfp };
  }
  return {
    num_channels: 385, sample_rate: 30000.155, probe_type: 'NP1', bit_volts: 2.34375, reference_channels: [191],
    reorder_lfp_channels: false, vertical_site_spacing: 10e-6, lfp_sample_rate: 2500.00941, lfp_band_file: lab.lfp,
  };
}

for (const layout of ['openephys', 'spikeglx'] as Layout[]) {
  test(`${layout}: the recording readers give the values the Allen scripts use`, timed(() => {
    const lab = makeLab(layout);
    assert.equal(readRecordingValues(layout, lab.rec), recordingValuesFor(layout, lab));
  }));

  test(`${layout}: every stage's input JSON is create_input_json.py's, section by section`, timed(async () => {
    const lab = makeLab(layout, true);
    const values = recordingValuesFor(layout, lab);
    const allen = allenFor(layout, lab);
    for (const stage of stages) {
      const ours = withoutInPlaceKey(stage, await inputJsonOf(lab, stage));
      const expected = withoutInPlaceKey(stage, intended(stage, layout, lab, asModuleSees(moduleOf(stage), allen), values));
      assert.equal(Object.keys(ours).sort(), Object.keys(expected).sort(), `${stage}: sections`);
      for (const section of Object.keys(expected)) assert.equal(ours[section], expected[section], `${stage}.${section}`);
    }
  }, 120_000));
}

test('create_input_json.py\'s misspelt postprocessing key changes nothing the module sees', timed(() => {
  const allen = createInputJson({ E: '/e', K: '/e/k', AP: '/e/ap.dat', LFP: '/e/lfp.dat', probeType: '3A' });
  assert.equal(asModuleSees('kilosort_postprocessing', allen).ks_postprocessing_params, {
    within_unit_overlap_window: 0.000166, between_unit_overlap_window: 0.000166, between_unit_channel_distance: 5,
  });
}));


test('in_place: the module\'s input JSON names the engine-made copy, not the source', timed(async () => {
  const lab = makeLab('openephys', true);
  const ms = await inputJsonOf(lab, 'median_subtraction');
  assert.is(ms.ephys_params.ap_band_file, path.join(lab.rec, 'continuous_ms.dat'));
  const pp = await inputJsonOf(lab, 'kilosort_postprocessing');
  assert.is(pp.directories.kilosort_output_directory, path.join(lab.rec, 'kilosort_postprocessed'));
}, 60_000));

for (const layout of ['openephys', 'spikeglx'] as Layout[]) {
  test(`${layout}: layout: auto reads the recording's own values (no ephys-make.yaml)`, timed(async () => {
    const lab = makeLab(layout);
    // NP1.0 goes to the Allen modules under their name for it, 3B2 (its channel map file's name).
    const values = { ...recordingValuesFor(layout, lab), ...(layout === 'spikeglx' ? { probe_type: '3B2' } : {}) };
    const json = await inputJsonOf(lab, 'depth_estimation');
    for (const [k, v] of Object.entries(values)) assert.equal(json.ephys_params[k], v, `ephys_params.${k}`);
  }, 60_000));
}

test.run();
