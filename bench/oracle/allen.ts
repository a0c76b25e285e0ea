/**
 * Running the real Allen modules of a prepared environment (docs/fidelity.md says what it needs):
 * each module exactly as the pipeline runs it, `python -m ecephys_spike_sorting.modules.MODULE
 * --input_json IN --output_json OUT`, in its own work folder, its console output in a log file
 * (the modules draw progress bars). Plus the two things read from the Python side directly: the
 * modules' argschema defaults and numbers from numpy's legacy generator.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

export interface AllenEnv {
  python: string;
  /** Environment variables for every module run (e.g. LOKY_MAX_CPU_COUNT). */
  env?: Record<string, string>;
}

/**
 * The real modules' interpreter and median program named by the environment: ALLEN_PYTHON and
 * ALLEN_MEDIAN_PROGRAM, else those of a prepared environment folder ALLEN_ORACLE (laid out as
 * docs/fidelity.md describes).
 */
export function allenFromEnvironment(): { python?: string; medianProgram?: string } {
  const dir = process.env.ALLEN_ORACLE;
  const inDir = (p: string) => (dir && fs.existsSync(path.join(dir, p)) ? path.join(dir, p) : undefined);
  return {
    python: process.env.ALLEN_PYTHON || inDir('venv/bin/python'),
    medianProgram: process.env.ALLEN_MEDIAN_PROGRAM || inDir('bin/SpikeBandMedianSubtraction'),
  };
}

export interface ModuleRun { code: number | null; log: string; output: Record<string, any> | undefined; seconds: number }

/** Runs one module on `input`; input.json, output.json and log.txt go to `workDir`. */
export function runModule(allen: AllenEnv, module: string, input: unknown, workDir: string, extraEnv: Record<string, string> = {}): ModuleRun {
  fs.mkdirSync(workDir, { recursive: true });
  const inJson = path.join(workDir, 'input.json');
  const outJson = path.join(workDir, 'output.json');
  const logFile = path.join(workDir, 'log.txt');
  fs.rmSync(outJson, { force: true });
  fs.writeFileSync(inJson, JSON.stringify(input, null, 2));
  const log = fs.openSync(logFile, 'w');
  const started = Date.now();
  let status: number | null;
  try {
    status = spawnSync(allen.python, ['-W', 'ignore', '-m', `ecephys_spike_sorting.modules.${module}`, '--input_json', inJson, '--output_json', outJson], {
      cwd: workDir, stdio: ['ignore', log, log], env: { ...process.env, ...allen.env, ...extraEnv },
    }).status;
  } finally {
    fs.closeSync(log);
  }
  const seconds = (Date.now() - started) / 1000;
  const text = fs.readFileSync(logFile, 'utf8');
  const output = fs.existsSync(outJson) ? JSON.parse(fs.readFileSync(outJson, 'utf8')) : undefined;
  return { code: status, log: text, output, seconds };
}

/** Runs a module and throws with the log's tail unless it exits 0. */
export function runModuleOk(allen: AllenEnv, module: string, input: unknown, workDir: string, extraEnv: Record<string, string> = {}): ModuleRun {
  const r = runModule(allen, module, input, workDir, extraEnv);
  if (r.code !== 0) throw new Error(`${module} exited ${r.code} in ${workDir}:\n${lastLines(r.log, 15)}`);
  return r;
}

export function lastLines(text: string, n: number): string {
  return text.replace(/\r/g, '\n').split('\n').filter((l) => l.trim() !== '').slice(-n).join('\n');
}

function python(allen: AllenEnv, code: string): string {
  const r = spawnSync(allen.python, ['-W', 'ignore', '-c', code], { encoding: 'utf8', maxBuffer: 256 << 20, env: { ...process.env, ...allen.env } });
  if (r.status !== 0) throw new Error(`${allen.python} failed:\n${r.stderr}`);
  return r.stdout;
}

/** Versions of the Python packages the modules ran with. */
export function pythonVersions(allen: AllenEnv): Record<string, string> {
  return JSON.parse(python(allen, `
import json, sys, numpy, scipy, sklearn, pandas, joblib, marshmallow
from importlib.metadata import version
print(json.dumps({'python': sys.version.split()[0], 'numpy': numpy.__version__, 'scipy': scipy.__version__,
  'scikit-learn': sklearn.__version__, 'pandas': pandas.__version__, 'joblib': joblib.__version__,
  'argschema': version('argschema'), 'marshmallow': marshmallow.__version__}))
`));
}

export const schemaModules = ['depth_estimation', 'median_subtraction', 'kilosort_helper', 'kilosort_postprocessing', 'noise_templates', 'mean_waveforms', 'quality_metrics'];

/**
 * Each module's InputParameters as argschema declares them: per field its marshmallow type, whether
 * it is required and its default; nested sections recursively.
 */
export function argschemaDefaults(allen: AllenEnv): Record<string, unknown> {
  return JSON.parse(python(allen, `
import json, importlib, marshmallow as mm
def plain(v):
    if callable(v): v = v()
    return v.tolist() if hasattr(v, 'tolist') else v
def walk(schema):
    out = {}
    for name, f in schema.fields.items():
        e = {'type': type(f).__name__, 'required': bool(f.required)}
        if f.dump_default is not mm.missing: e['default'] = plain(f.dump_default)
        if isinstance(f, mm.fields.Nested): e['fields'] = walk(f.schema)
        out[name] = e
    return out
res = {}
for m in ${JSON.stringify(schemaModules)}:
    res[m] = walk(importlib.import_module('ecephys_spike_sorting.modules.%s._schemas' % m).InputParameters())
print(json.dumps(res))
`));
}

/** Numbers from numpy's legacy generator for the MT19937 test: raw draws and permutations. */
export function numpyLegacyNumbers(allen: AllenEnv): Record<string, unknown> {
  return JSON.parse(python(allen, `
import json, hashlib, numpy as np
out = {'numpy': np.__version__, 'draws': [], 'permutations': [], 'shuffles': []}
for seed in [0, 1, 9999, 123456789, 4294967295]:
    np.random.seed(seed)
    out['draws'].append({'seed': seed, 'uint32': [int(v) for v in np.random.randint(0, 2**32, size=200, dtype=np.uint64)]})
for seed, n in [(9999, 1), (9999, 2), (9999, 10), (9999, 1000), (7, 65537), (9999, 123457), (2024, 2**20 + 3)]:
    np.random.seed(seed)
    p = np.random.permutation(n).astype('<i4')
    out['permutations'].append({'seed': seed, 'n': n, 'head': p[:20].tolist(), 'tail': p[-5:].tolist(),
                                'sha256': hashlib.sha256(p.tobytes()).hexdigest()})
# One generator through several permutations of arrays, as the module's one-core PC loop draws.
np.random.seed(9999)
for n in [5, 1, 0, 300, 2, 77]:
    out['shuffles'].append({'n': n, 'permutation': np.random.permutation(np.arange(n) * 3 + 1).tolist()})
out['after'] = [int(v) for v in np.random.randint(0, 2**32, size=5, dtype=np.uint64)]
print(json.dumps(out))
`));
}

/**
 * The mean_waveforms module's waveform metrics in fixed spike orders: extract_waveforms' loop
 * (each unit's spikes in the epoch, snippets times bit_volts, NaN where cut off by the file's
 * ends) with its unseeded `np.random.shuffle` replaced by the file's order, then by `orders`
 * seeded permutations, each passed to the module's own calculate_waveform_metrics. Returns each
 * run's table as CSV text. Where a unit's metrics differ between orders (a tie between two samples
 * broken by float rounding), the module is not reproducible; the built-in, which sums in file
 * order, must then give the first run's values.
 */
export function meanWaveformsOverOrders(allen: AllenEnv, inputJson: string, orders: number): string[] {
  return JSON.parse(python(allen, `
import json, sys, numpy as np, pandas as pd
answer, sys.stdout = sys.stdout, sys.stderr   # the module prints progress
from ecephys_spike_sorting.modules.mean_waveforms.waveform_metrics import calculate_waveform_metrics
from ecephys_spike_sorting.common.utils import load_kilosort_data
args = json.load(open(${JSON.stringify(inputJson)}))
e, p = args['ephys_params'], args['mean_waveform_params']
raw = np.memmap(e['ap_band_file'], dtype='int16', mode='r')
data = np.reshape(raw, (int(raw.size / e['num_channels']), e['num_channels']))
spike_times, spike_clusters, spike_templates, amplitudes, templates, channel_map, ids, quality = \
    load_kilosort_data(args['directories']['kilosort_output_directory'], e['sample_rate'], convert_to_seconds=False)
S, pre, limit = p['samples_per_spike'], p['pre_samples'], p['spikes_per_epoch']
peak_channels = np.squeeze(channel_map[np.argmax(np.max(templates, 1) - np.min(templates, 1), 1)])
in_epoch = ((spike_times / e['sample_rate']) > 0) * ((spike_times / e['sample_rate']) < np.inf)
times_in_epoch = spike_times[in_epoch]
out = []
for k in range(${orders} + 1):
    rng = np.random.default_rng(k)
    metrics = pd.DataFrame()
    for cluster_id in np.arange(np.max(spike_clusters) + 1):
        times = times_in_epoch[spike_clusters[in_epoch] == cluster_id]
        if times.size == 0: continue
        if k: times = times[rng.permutation(times.size)]
        n = min(times.size, limit)
        w = np.empty((n, data.shape[1], S)); w[:] = np.nan
        for i, t in enumerate(times[:n]):
            start = int(t - pre)
            snippet = data[start:start + S, :].T
            if snippet.shape[1] == S: w[i] = snippet * e['bit_volts']
        metrics = pd.concat([metrics, calculate_waveform_metrics(w, cluster_id, peak_channels[cluster_id], channel_map,
            e['sample_rate'], p.get('upsampling_factor', 200 / 82), p['spread_threshold'], p['site_range'],
            e['vertical_site_spacing'], 'complete_session')])
    out.append(metrics.to_csv())
answer.write(json.dumps(out))
`));
}
