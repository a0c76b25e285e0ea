/**
 * `npm run golden`: runs the real Allen ecephys_spike_sorting modules on the fixed, seeded inputs
 * of cases.ts and writes what they made under test/fixtures/golden/, stamped with the module
 * commit. The fidelity tests then compare every built-in stage with these fixtures, without Python.
 *
 *   npm run golden -- --oracle DIR [--runs 5] [--only quality_metrics,...] [--work DIR]
 *   npm run golden -- --python VENV/bin/python --module-commit SHA \
 *       [--median-program PATH --median-repo DIR --juce-commit SHA --median-build TEXT] [--runs 5] [--only ...]
 *
 * --oracle DIR names a prepared environment laid out as docs/fidelity.md describes (venv/bin/python,
 * bin/SpikeBandMedianSubtraction, src/ess with src/ess.commit, src/JUCE.commit); the other options
 * override what it gives. Options may also come from the environment: ALLEN_ORACLE, ALLEN_PYTHON,
 * ALLEN_COMMIT, ALLEN_MEDIAN_PROGRAM, ALLEN_MEDIAN_REPO, JUCE_COMMIT, ALLEN_MEDIAN_BUILD. How to
 * prepare such an environment: docs/fidelity.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { readNpyHeader } from '../../lib/formats/npy.js';
import { argschemaDefaults, numpyLegacyNumbers, pythonVersions, type AllenEnv } from './allen.js';
import { ksFolders, makeKs, makeRecording, makeTemplates, recordings, sortRecording, templateFolders } from './cases.js';
import { goldenDir, writeJson, type Stamp } from './fixtures.js';
import {
  depthEstimation, kilosortPostprocessing, meanWaveforms, medianSubtraction, noiseTemplates, qualityMetrics, type Context,
} from './produce.js';
import { medianCrafted } from './medianCrafted.js';

const stages = ['schemas', 'numpy', 'depth_estimation', 'median_subtraction', 'kilosort_postprocessing', 'noise_templates', 'mean_waveforms', 'quality_metrics'];

const usage = `usage: npm run golden -- --oracle DIR [--runs N] [--only ${stages.join(',')}] [--work DIR] [--out DIR]
       npm run golden -- --python PATH --module-commit SHA
                     [--median-program PATH --median-repo DIR --juce-commit SHA --median-build TEXT] [...]`;

/** What a prepared environment folder gives (docs/fidelity.md), where it has it. */
function fromOracle(dir: string | undefined): Record<string, string | undefined> {
  if (!dir) return {};
  if (!fs.existsSync(dir)) fail(`--oracle ${dir}: no such folder`);
  const file = (p: string) => (fs.existsSync(path.join(dir, p)) ? path.join(dir, p) : undefined);
  const text = (p: string) => { const f = file(p); return f && fs.readFileSync(f, 'utf8').trim(); };
  return {
    python: file('venv/bin/python'), commit: text('src/ess.commit'), medianProgram: file('bin/SpikeBandMedianSubtraction'),
    medianRepo: file('src/ess'), juceCommit: text('src/JUCE.commit'), medianBuild: text('bin/SpikeBandMedianSubtraction.build'),
  };
}

function fail(message: string): never {
  process.stderr.write(`golden: ${message}\n${usage}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      oracle: { type: 'string' }, 'median-build': { type: 'string' }, python: { type: 'string' }, 'module-commit': { type: 'string' }, 'median-program': { type: 'string' },
      'median-repo': { type: 'string' }, 'juce-commit': { type: 'string' }, runs: { type: 'string' }, only: { type: 'string' }, work: { type: 'string' },
      out: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) { process.stdout.write(usage + '\n'); return; }
  const env = fromOracle(values.oracle ?? process.env.ALLEN_ORACLE);
  const python = values.python ?? process.env.ALLEN_PYTHON ?? env.python;
  const commit = values['module-commit'] ?? process.env.ALLEN_COMMIT ?? env.commit;
  if (!python) fail('--python (or ALLEN_PYTHON) is required: an interpreter that imports ecephys_spike_sorting');
  if (!commit || !/^[0-9a-f]{40}$/.test(commit)) fail(`--module-commit (or ALLEN_COMMIT) must be the module repository's 40-hex commit, got ${JSON.stringify(commit)}`);
  const only = values.only ? values.only.split(',') : stages;
  for (const s of only) if (!stages.includes(s)) fail(`--only: unknown '${s}'`);
  const runs = Number(values.runs ?? 5);
  if (!Number.isInteger(runs) || runs < 2) fail('--runs must be a whole number >= 2');
  if (os.availableParallelism() < 2) fail('this machine has one core: the module would run its PC metrics in its main process, unlike on every lab machine');

  const allen: AllenEnv = { python };
  const versions = pythonVersions(allen);
  const stamp: Stamp = { module: 'AllenInstitute/ecephys_spike_sorting', commit, versions, made: new Date().toISOString().slice(0, 10) };
  const out = path.resolve(values.out ?? goldenDir);
  const work = path.resolve(values.work ?? path.join(os.tmpdir(), 'ephys-make-golden'));
  fs.mkdirSync(work, { recursive: true });
  const started = Date.now();
  const c: Context = {
    allen, stamp, out, work, runs,
    medianProgram: values['median-program'] ?? process.env.ALLEN_MEDIAN_PROGRAM ?? env.medianProgram,
    medianRepo: values['median-repo'] ?? process.env.ALLEN_MEDIAN_REPO ?? env.medianRepo,
    juceCommit: values['juce-commit'] ?? process.env.JUCE_COMMIT ?? env.juceCommit,
    log: (line) => process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`),
  };
  const want = (s: string) => only.includes(s);
  c.log(`modules at ${commit} with ${Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(', ')}`);

  if (want('schemas')) writeJson(path.join(out, 'argschema_defaults.json'), { stamp, modules: argschemaDefaults(allen) });
  if (want('numpy')) writeJson(path.join(out, 'numpy_mt19937.json'), { stamp, ...numpyLegacyNumbers(allen) });

  // Recordings: depth estimation and median subtraction on the raw AP band; the built-in sorter
  // sorts synthA's raw band (its output depends on nothing the median engineer changes).
  const inputs = path.join(work, 'inputs');
  const rec: Record<string, Awaited<ReturnType<typeof makeRecording>>> = {};
  const needRecordings = ['depth_estimation', 'median_subtraction', 'kilosort_postprocessing', 'noise_templates', 'mean_waveforms', 'quality_metrics'].some(want);
  if (needRecordings) for (const r of recordings) rec[r.name] = await makeRecording(r, inputs);
  if (want('depth_estimation')) for (const r of recordings) depthEstimation(c, `${r.name}-3A`, rec[r.name], '3A');
  for (const r of recordings) {
    if (!want('depth_estimation') && !want('median_subtraction')) break;
    const probeJson = depthEstimation(c, r.name, rec[r.name]);
    if (!want('median_subtraction')) continue;
    const probe = JSON.parse(fs.readFileSync(probeJson, 'utf8'));
    if (r.name === 'synthA') {
      medianSubtraction(c, r.name, r.name, rec[r.name], probe, 'probe_info.json as depth_estimation wrote it: channels from the air channel up are copied unchanged');
    } else {
      // Every channel below max_channel, and masks that give groups of 16, 15, 14 and 13 channels.
      const edited = { ...probe, air_channel: 384, mask: probe.mask.map((m: boolean, ch: number) => m && ![5, 29, 53, 6, 30, 100].includes(ch)) };
      medianSubtraction(c, `${r.name}-all-channels`, r.name, rec[r.name], edited, 'air_channel 384 and extra masked channels (5, 29, 53, 6, 30, 100, 191): usable-channel groups of odd and even sizes');
    }
  }
  if (want('median_subtraction')) {
    medianCrafted(c, values['median-build'] ?? process.env.ALLEN_MEDIAN_BUILD ?? env.medianBuild ?? 'compiler and flags not recorded');
  }

  const sorted = path.join(inputs, 'sortedA');
  const downstream = ['kilosort_postprocessing', 'noise_templates', 'mean_waveforms', 'quality_metrics'].some(want);
  if (downstream) {
    await sortRecording(rec.synthA, sorted);
    const ks = Object.fromEntries(ksFolders.map((k) => [k.name, makeKs(k, inputs)]));
    // Postprocessing is needed by the later modules even when its own fixture is not remade.
    const ppSorted = kilosortPostprocessing(want('kilosort_postprocessing') ? c : { ...c, out: path.join(work, 'discard') }, 'sortedA', sorted);
    const ppKs = kilosortPostprocessing(want('kilosort_postprocessing') ? c : { ...c, out: path.join(work, 'discard') }, 'ksPostprocessing', ks.ksPostprocessing);
    if (want('noise_templates')) {
      noiseTemplates(c, 'sortedA', ppSorted);
      noiseTemplates(c, 'ksPostprocessing', ppKs);
      for (const t of templateFolders) noiseTemplates(c, t.name, makeTemplates(t, inputs));
    }
    if (want('mean_waveforms')) {
      meanWaveforms(c, 'sortedA', ppSorted, rec.synthA.ap);
      meanWaveforms(c, 'ksPostprocessing', ppKs, rec.synthB.ap);
    }
    if (want('quality_metrics')) {
      qualityMetrics(c, 'sortedA', ppSorted, { n_silhouette: 1000 }, 'the built-in sorter\'s output of synthA after the module\'s postprocessing, '
        + 'merged with the module\'s waveform_metrics.csv of it; n_silhouette 1000, below its spike count', undefined, path.join(out, 'mean_waveforms', 'sortedA', 'waveform_metrics.csv'));
      for (const k of ['ksEdges', 'ksDense']) qualityMetrics(c, k, ks[k], {}, ksFolders.find((f) => f.name === k)!.note);
      const shortSpikes = readNpyHeader(path.join(ks.ksShort, 'spike_clusters.npy')).shape[0];
      qualityMetrics(c, 'ksShort', ks.ksShort, {}, ksFolders.find((f) => f.name === 'ksShort')!.note + '; the module is run with n_silhouette = the spike count, which draws the same sample as the built-in with 10,000', shortSpikes);
    }
  }
  c.log(`done: ${out}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().catch((err) => { process.stderr.write(`golden: ${err?.stack ?? err}\n`); process.exit(1); });
}
