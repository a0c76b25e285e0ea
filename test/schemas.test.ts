/**
 * The stage schemas under stages/: they compile together, their defaults fill a minimal input
 * JSON the way argschema fills the Python modules' inputs, and each rejects the mistakes the
 * Python modules would silently run with.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import AjvModule, { type ErrorObject, type ValidateFunction } from 'ajv';
import { repoRoot, timed } from './rig.js';
import { compiledValidator, pipelineSchemaId } from '../lib/engine/compileSchemas.js';

const Ajv = AjvModule.default ?? AjvModule;
const stagesDir = path.join(repoRoot, 'stages');
const idOf = (module: string) => `https://ephys-make/stages/${module}/schema.json`;

const modules = [
  'extract_from_npx', 'depth_estimation', 'median_subtraction', 'kilosort_helper', 'kilosort_postprocessing',
  'noise_templates', 'mean_waveforms', 'quality_metrics', 'automerging',
];

/** Each module's own section and the shared sections it reads. */
const sectionsOf: Record<string, string[]> = {
  extract_from_npx: ['directories', 'common_files', 'extract_from_npx_params'],
  depth_estimation: ['directories', 'ephys_params', 'common_files', 'depth_estimation_params'],
  median_subtraction: ['directories', 'ephys_params', 'common_files', 'median_subtraction_params'],
  kilosort_helper: ['directories', 'ephys_params', 'common_files', 'kilosort_helper_params'],
  kilosort_postprocessing: ['directories', 'ephys_params', 'ks_postprocessing_params'],
  noise_templates: ['directories', 'ephys_params', 'noise_waveform_params'],
  mean_waveforms: ['directories', 'ephys_params', 'waveform_metrics', 'mean_waveform_params'],
  quality_metrics: ['directories', 'ephys_params', 'waveform_metrics', 'quality_metrics_params'],
  automerging: ['directories', 'ephys_params', 'automerging_params'],
};
const ownSection = (module: string) => sectionsOf[module][sectionsOf[module].length - 1];

/** The smallest input each module accepts: only what has no default. */
function minimalInput(module: string): Record<string, any> {
  const ks = { kilosort_output_directory: '/rec/kilosort' };
  switch (module) {
    case 'extract_from_npx':
      return { directories: { extracted_data_directory: '/rec' }, extract_from_npx_params: { npx_directory: '/raw', npx_extractor_executable: '/bin/NpxExtractor.exe' } };
    case 'depth_estimation':
      return { ephys_params: { ap_band_file: '/rec/ap.dat', lfp_band_file: '/rec/lfp.dat' }, common_files: { probe_json: '/rec/probe_info.json' }, depth_estimation_params: { figure_location: '/rec/probe_depth.png' } };
    case 'median_subtraction':
      return { ephys_params: { ap_band_file: '/rec/ap.dat' }, common_files: { probe_json: '/rec/probe_info.json' } };
    case 'kilosort_helper':
      return { directories: ks, ephys_params: { ap_band_file: '/rec/ap.dat' }, common_files: { probe_json: '/rec/probe_info.json' }, kilosort_helper_params: { matlab_home_directory: '/matlab', kilosort_repository: '/ks2' } };
    case 'kilosort_postprocessing':
    case 'automerging':
      return { directories: ks };
    case 'noise_templates':
      return { directories: ks, noise_waveform_params: { classifier_path: '/rf.pkl' } };
    case 'mean_waveforms':
      return { directories: ks, ephys_params: { ap_band_file: '/rec/ap.dat' }, waveform_metrics: { waveform_metrics_file: '/rec/kilosort/waveform_metrics.csv' }, mean_waveform_params: { mean_waveforms_file: '/rec/kilosort/mean_waveforms.npy' } };
    case 'quality_metrics':
      return { directories: ks, quality_metrics_params: { quality_metrics_output_file: '/rec/kilosort/metrics.csv' } };
    default:
      throw new Error(`internal error: no minimal input for ${module}`);
  }
}

const readJson = (p: string) => JSON.parse(fs.readFileSync(p, 'utf8'));
const common = readJson(path.join(stagesDir, 'common.schema.json'));
const schemas = Object.fromEntries(modules.map((m) => [m, readJson(path.join(stagesDir, m, 'schema.json'))]));

function makeAjv() {
  const ajv = new Ajv({ useDefaults: true, allErrors: true, strict: false });
  ajv.addSchema(common);
  for (const m of modules) ajv.addSchema(schemas[m]);
  return ajv;
}
const ajv = makeAjv();
const validatorOf = (m: string): ValidateFunction => ajv.getSchema(idOf(m)) ?? assert.unreachable(`no schema ${m}`) as never;

function check(module: string, input: Record<string, any>): ErrorObject[] {
  const v = validatorOf(module);
  return v(input) ? [] : [...(v.errors ?? [])];
}
const brief = (errors: ErrorObject[]) => errors.map((e) => ({ at: e.instancePath, keyword: e.keyword, params: e.params }));

/** The properties of a section, following its $ref into common.schema.json when needed. */
function sectionSchema(module: string, section: string): Record<string, any> {
  const prop = schemas[module].properties[section];
  const ref: string | undefined = prop.$ref ?? prop.allOf?.[0]?.$ref;
  if (!ref) return prop;
  const name = ref.split('/').pop()!;
  return common.definitions[name];
}

function defaultsOf(section: Record<string, any>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, p] of Object.entries<any>(section.properties)) {
    if ('default' in p) out[k] = p.default;
  }
  return out;
}

test('the build precompiles the pipeline schema and every stage schema, so runs do not compile them', timed(() => {
  const file = path.join(repoRoot, 'lib', 'engine', 'pipeline.schema.json');
  assert.type(compiledValidator(file, pipelineSchemaId), 'function', 'dist/schemas.cjs holds the pipeline validator');
  for (const d of fs.readdirSync(path.join(repoRoot, 'stages'))) {
    const f = path.join(repoRoot, 'stages', d, 'schema.json');
    if (!fs.existsSync(f)) continue;
    assert.type(compiledValidator(f, JSON.parse(fs.readFileSync(f, 'utf8')).$id), 'function', f);
  }
}));

test('every stage schema compiles with the shared definitions', timed(() => {
  const fresh = makeAjv();
  for (const m of modules) {
    assert.is(schemas[m].$id, idOf(m));
    assert.ok(fresh.getSchema(idOf(m)), m);
  }
  assert.is(common.$id, 'https://ephys-make/stages/common.schema.json');
}));

test('each schema declares exactly the sections its module reads', timed(() => {
  for (const m of modules) {
    assert.equal(Object.keys(schemas[m].properties).sort(), [...sectionsOf[m]].sort(), m);
    assert.is(schemas[m].type, 'object', m);
    assert.is(schemas[m].additionalProperties, undefined, `${m}: other sections are the engine's to drop`);
  }
}));

test('every field has a type and a description; every section defaults to {}', timed(() => {
  const sections = [...Object.values<any>(common.definitions)];
  for (const m of modules) {
    for (const [name, prop] of Object.entries<any>(schemas[m].properties)) {
      assert.equal(prop.default, {}, `${m}.${name} default`);
    }
    sections.push(schemas[m].properties[ownSection(m)]);
  }
  const walk = (section: any, where: string) => {
    assert.is(section.additionalProperties, false, `${where} must reject unknown keys`);
    for (const [k, p] of Object.entries<any>(section.properties)) {
      assert.ok(p.type, `${where}.${k} type`);
      assert.ok(p.description, `${where}.${k} description`);
      if (p.type === 'object') walk(p, `${where}.${k}`);
    }
  };
  for (const s of sections) walk(s, s.title ?? s.description ?? 'section');
}));

test('defaults fill a minimal input completely', timed(() => {
  for (const m of modules) {
    const input = minimalInput(m);
    assert.equal(brief(check(m, input)), [], m);
    for (const section of sectionsOf[m]) {
      const schema = sectionSchema(m, section);
      const filled = input[section];
      assert.type(filled, 'object', `${m}.${section} created`);
      for (const [k, value] of Object.entries(defaultsOf(schema))) {
        if (schema.properties[k].type === 'object') {
          assert.equal(filled[k], { ...defaultsOf(schema.properties[k]) }, `${m}.${section}.${k}`);
        } else {
          assert.equal(filled[k], value, `${m}.${section}.${k}`);
        }
      }
    }
  }
}));

test('an absent module section is created and filled', timed(() => {
  const input: Record<string, any> = { directories: { kilosort_output_directory: '/k' } };
  assert.equal(brief(check('kilosort_postprocessing', input)), []);
  assert.equal(input.ks_postprocessing_params, {
    within_unit_overlap_window: 0.000166, between_unit_overlap_window: 0.000166, between_unit_channel_distance: 5,
  });
  assert.equal(input.ephys_params.reference_channels, [36, 75, 112, 151, 188, 227, 264, 303, 340, 379]);
  assert.is(input.ephys_params.sample_rate, 30000);
}));

test('values already given are kept', timed(() => {
  const input = minimalInput('quality_metrics');
  input.quality_metrics_params.isi_threshold = 0.002;
  input.ephys_params = { sample_rate: 30000.123, reference_channels: [191] };
  assert.equal(brief(check('quality_metrics', input)), []);
  assert.is(input.quality_metrics_params.isi_threshold, 0.002);
  assert.is(input.quality_metrics_params.min_isi, 0);
  assert.equal(input.ephys_params.reference_channels, [191]);
  assert.is(input.ephys_params.sample_rate, 30000.123);
}));

test('nested Kilosort settings are filled too', timed(() => {
  const input = minimalInput('kilosort_helper');
  assert.equal(brief(check('kilosort_helper', input)), []);
  const p = input.kilosort_helper_params;
  assert.is(p.kilosort_version, 2);
  assert.is(p.surface_channel_buffer, 15);
  assert.is(p.kilosort2_params.Th, '[10 4]');
  assert.is(p.kilosort2_params.NT, '64*1024 + ops.ntbuff');
  assert.is(p.kilosort2_params.minFR, 0.02);
  assert.is(p.kilosort3_params.Th, '[9 9]');
  assert.is(p.kilosort3_params.nblocks, 5);
  // As in the module's argschema schema: Kilosort 1's section has no default, so none is made.
  assert.is(p.kilosort_params, undefined);
  const ks1 = minimalInput('kilosort_helper');
  ks1.kilosort_helper_params.kilosort_params = {};
  check('kilosort_helper', ks1);
  assert.is(ks1.kilosort_helper_params.kilosort_params.Nfilt, 1024);
}));

/** One wrong type, one missing required field and one unknown key per module. */
const mistakes: Record<string, { wrongType: [string, string, unknown, string]; missing: [string, string, string]; unknown: string }> = {
  extract_from_npx: { wrongType: ['extract_from_npx_params', 'npx_directory', 3, 'string'], missing: ['extract_from_npx_params', 'npx_extractor_executable', '/extract_from_npx_params'], unknown: 'npx_dir' },
  depth_estimation: { wrongType: ['depth_estimation_params', 'n_passes', 2.5, 'integer'], missing: ['depth_estimation_params', 'figure_location', '/depth_estimation_params'], unknown: 'hi_noise_threshold' },
  median_subtraction: { wrongType: ['median_subtraction_params', 'output_file', false, 'string'], missing: ['common_files', 'probe_json', '/common_files'], unknown: 'output' },
  kilosort_helper: { wrongType: ['kilosort_helper_params', 'surface_channel_buffer', '15', 'integer'], missing: ['kilosort_helper_params', 'matlab_home_directory', '/kilosort_helper_params'], unknown: 'kilosort_params2' },
  kilosort_postprocessing: { wrongType: ['ks_postprocessing_params', 'within_unit_overlap_window', '0.000166', 'number'], missing: ['directories', 'kilosort_output_directory', '/directories'], unknown: 'between_unit_overlap_distance' },
  noise_templates: { wrongType: ['noise_waveform_params', 'multiprocessing_worker_count', 'ten', 'integer'], missing: ['noise_waveform_params', 'classifier_path', '/noise_waveform_params'], unknown: 'classifier' },
  mean_waveforms: { wrongType: ['mean_waveform_params', 'spikes_per_epoch', 1000.5, 'integer'], missing: ['mean_waveform_params', 'mean_waveforms_file', '/mean_waveform_params'], unknown: 'spikes_per_unit' },
  quality_metrics: { wrongType: ['quality_metrics_params', 'include_pc_metrics', 1, 'boolean'], missing: ['quality_metrics_params', 'quality_metrics_output_file', '/quality_metrics_params'], unknown: 'isi_treshold' },
  automerging: { wrongType: ['automerging_params', 'merge_threshold', 'high', 'number'], missing: ['directories', 'kilosort_output_directory', '/directories'], unknown: 'merge_thresh' },
};

test('each schema rejects a wrong type in its own section', timed(() => {
  for (const m of modules) {
    const [section, key, value, type] = mistakes[m].wrongType;
    const input = minimalInput(m);
    input[section] = { ...input[section], [key]: value };
    assert.equal(brief(check(m, input)), [{ at: `/${section}/${key}`, keyword: 'type', params: { type } }], m);
  }
}));

test('each schema rejects a missing required field', timed(() => {
  for (const m of modules) {
    const [section, key, at] = mistakes[m].missing;
    const input = minimalInput(m);
    delete input[section][key];
    const errors = brief(check(m, input)).filter((e) => e.keyword === 'required');
    assert.equal(errors, [{ at, keyword: 'required', params: { missingProperty: key } }], m);
  }
}));

test('each schema rejects an unknown key in its own section', timed(() => {
  for (const m of modules) {
    const input = minimalInput(m);
    const section = ownSection(m);
    input[section] = { ...input[section], [mistakes[m].unknown]: 1 };
    assert.equal(brief(check(m, input)), [
      { at: `/${section}`, keyword: 'additionalProperties', params: { additionalProperty: mistakes[m].unknown } },
    ], m);
  }
}));

test("create_input_json.py's misspelt postprocessing key is an error, the right one is not", timed(() => {
  const wrong = { directories: { kilosort_output_directory: '/k' }, ks_postprocessing_params: { between_unit_overlap_distance: 5 } };
  assert.equal(brief(check('kilosort_postprocessing', wrong)), [
    { at: '/ks_postprocessing_params', keyword: 'additionalProperties', params: { additionalProperty: 'between_unit_overlap_distance' } },
  ]);
  const right = { directories: { kilosort_output_directory: '/k' }, ks_postprocessing_params: { between_unit_channel_distance: 3 } };
  assert.equal(brief(check('kilosort_postprocessing', right)), []);
}));

test('shared sections reject unknown keys and wrong types too', timed(() => {
  const input = minimalInput('quality_metrics');
  input.ephys_params = { sample_rte: 30000, reference_channels: ['191'] };
  assert.equal(brief(check('quality_metrics', input)), [
    { at: '/ephys_params', keyword: 'additionalProperties', params: { additionalProperty: 'sample_rte' } },
    { at: '/ephys_params/reference_channels/0', keyword: 'type', params: { type: 'integer' } },
  ]);
}));

test('depth_estimation needs figure_location only when it saves the figure', timed(() => {
  const input = minimalInput('depth_estimation');
  delete input.depth_estimation_params.figure_location;
  input.depth_estimation_params.save_figure = false;
  assert.equal(brief(check('depth_estimation', input)), []);
}));

test('median_subtraction runs without the Allen executable (built-in stage)', timed(() => {
  const input = minimalInput('median_subtraction');
  input.median_subtraction_params = { output_file: '/rec/continuous_ms.dat', residuals_file: '/rec/residuals.dat' };
  assert.equal(brief(check('median_subtraction', input)), []);
}));

test('quality_metrics wants an odd number of channels to compare; Kilosort 1 is refused', timed(() => {
  const qm = minimalInput('quality_metrics');
  qm.quality_metrics_params.num_channels_to_compare = 8;
  assert.equal(brief(check('quality_metrics', qm)), [
    { at: '/quality_metrics_params/num_channels_to_compare', keyword: 'not', params: {} },
  ]);
  const ks = minimalInput('kilosort_helper');
  ks.kilosort_helper_params.kilosort_version = 1;
  assert.equal(brief(check('kilosort_helper', ks)), [
    { at: '/kilosort_helper_params/kilosort_version', keyword: 'enum', params: { allowedValues: [2, 3] } },
  ]);
}));

test.run();
