import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { tempDir, timed, writeFile, repoRoot } from './rig.js';
import { stage } from '../stages/quality_metrics/index.js';
import { firingRate, presenceRatio, isiViolations, amplitudeCutoff } from '../stages/quality_metrics/spikeTrainMetrics.js';
import { mahalanobisMetrics, ldaDPrime, nearestNeighborMetrics } from '../stages/quality_metrics/pcMetrics.js';
import { spikeDepths, driftIntervals, unitDrift } from '../stages/quality_metrics/drift.js';
import { formatCsv, mergeTables, readCsvTable, type Table } from '../stages/quality_metrics/metricsTable.js';
import { silhouetteScores, distanceSums } from '../stages/quality_metrics/silhouette.js';
import { chiSquareCdf } from '../lib/numeric/chiSquare.js';
import { gaussianFilter1d } from '../lib/numeric/gaussianFilter1d.js';
import { linspace, arange } from '../lib/numeric/numpyRange.js';
import { roundHalfEven } from '../lib/numeric/numpyRound.js';
import { nearestNeighbors } from '../lib/numeric/nearestNeighbors.js';
import { SeededRandom } from '../lib/numeric/seededRandom.js';
import { makeKsFolder } from '../bench/_ksFolder.js';
import type { BuiltinContext } from '../lib/builtin/stage.js';

// The built-in against the real Allen module: test/fidelity.test.ts.

const ctx: BuiltinContext = { progress() {}, log() {}, signal: new AbortController().signal };
const close = (a: number, b: number, rel = 1e-12) => Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b));

/** Standard normal draws from the project's seeded generator (Box-Muller). */
function normals(rng: SeededRandom, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(rng.nextFloat() || 1e-300)) * Math.cos(2 * Math.PI * rng.nextFloat());
  return out;
}

test('numeric helpers reproduce scipy and numpy values', timed(() => {
  // scipy.stats.chi2.cdf and 1 - cdf, printed by scipy 1.10.
  assert.ok(close(chiSquareCdf(10, 21), 0.021088144307526174, 1e-13));
  assert.ok(close(1 - chiSquareCdf(40, 21), 0.007436777297804675, 1e-11));
  assert.ok(close(chiSquareCdf(0.5, 3), 0.08110858834532418, 1e-13));
  assert.ok(close(1 - chiSquareCdf(80, 39), 0.00011974877354947733, 1e-9));
  assert.ok(close(chiSquareCdf(1e-3, 7), 2.4020490518976986e-13, 1e-12));
  assert.equal(Array.from(gaussianFilter1d([0, 0, 1, 0, 0, 0, 2, 5], 3)), [
    0.3336832287050935, 0.4059984722973492, 0.5553318614837895, 0.7828325705238628,
    1.073192398717413, 1.3850095555070312, 1.6536402567514368, 1.8103116560140244,
  ]);
  assert.equal(Array.from(linspace(0.1, 0.7, 7)), [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]);
  assert.equal(Array.from(arange(0.3, 1.0, 0.1)), [0.3, 0.4, 0.5, 0.6000000000000001, 0.7000000000000002, 0.8000000000000003, 0.9000000000000001]);
  assert.equal([roundHalfEven(0.125, 2), roundHalfEven(2.675, 2), roundHalfEven(1.005, 2), roundHalfEven(2.5)], [0.12, 2.68, 1, 2]);
}));

test('nearest neighbours: exact, same with and without WebAssembly, nearest first', timed(() => {
  const rng = new SeededRandom(3);
  for (const [n, d] of [[9, 2], [1003, 21], [2001, 7]]) {
    const x = normals(rng, n * d);
    const a = nearestNeighbors(x, n, d, 3);
    assert.equal(Array.from(a), Array.from(nearestNeighbors(x, n, d, 3, false)));
    for (let r = 0; r < n; r += Math.ceil(n / 40)) {
      const all: Array<[number, number]> = [];
      for (let j = 0; j < n; j++) {
        if (j === r) continue;
        let s = 0;
        for (let q = 0; q < d; q++) s += (x[r * d + q] - x[j * d + q]) ** 2;
        all.push([s, j]);
      }
      all.sort((p, q) => p[0] - q[0] || p[1] - q[1]);
      assert.equal(Array.from(a.subarray(r * 3, r * 3 + 3)), all.slice(0, 3).map((e) => e[1]));
    }
  }
}));

test('ISI violations: duplicates dropped first, violations counted by hand', timed(() => {
  // ISIs 0.001, 0.0001 (duplicate: 1.0011 dropped), 0.0019, 0.007, 0.0005 -> kept ISIs
  // 0.001, 0.002, 0.007, 0.0005: two below 1.5 ms among N' = 5 spikes.
  const times = [1.0, 1.001, 1.0011, 1.003, 1.010, 1.0105];
  const r = isiViolations(times, 0, 100, 0.0015, 0.0002);
  assert.is(r.violations, 2);
  const rate = 2 / (2 * 5 * (0.0015 - 0.0002));
  assert.ok(close(r.fpRate, rate / (5 / 100)));
  assert.ok(Number.isNaN(r.fpRateCorrected), 'the root of a negative number is NaN');
  const short = isiViolations(times, 1.0, 1.0105, 0.0015, 0.0002);
  assert.ok(close(short.fpRateCorrected, 1 - Math.sqrt(1 - (2 * 0.0105) / (25 * 0.0013))));
  // No violations at all.
  assert.equal(isiViolations([1, 2, 3], 0, 10, 0.0015, 0), { fpRate: 0, fpRateCorrected: 0, violations: 0 });
}));

test('presence ratio over the 99 bins of 100 edges, divided by 100', timed(() => {
  // Edges 0, 1, ..., 99: spikes in bins 0, 1, 50 and 98 (99 is the last edge, in the last bin).
  assert.is(presenceRatio([0.5, 1.5, 1.7, 50.2, 99], 0, 99), 0.04);
  assert.is(presenceRatio(Array.from({ length: 100 }, (_, i) => i), 0, 99), 0.99);
  assert.is(firingRate(50, 10, 20), 5);
}));

test('amplitude cut-off of a symmetric and of a truncated distribution', timed(() => {
  // Normal quantiles (a noise-free Gaussian); the estimate is near 0 when nothing is missing and
  // about 0.3 / 0.7 of the observed spikes when the lowest 30% are cut.
  const n = 20000;
  const quantile = (p: number): number => { // Acklam's rational approximation of the normal quantile
    const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.383577518672690e2, -3.066479806614716e1, 2.506628277459239];
    const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
    const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    if (p < 0.02425) { const q = Math.sqrt(-2 * Math.log(p)); return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1); }
    if (p > 1 - 0.02425) return -quantile(1 - p);
    const q = p - 0.5, r = q * q;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  };
  const full = Array.from({ length: n }, (_, i) => 50 + 10 * quantile((i + 0.5) / n));
  assert.ok(amplitudeCutoff(full) < 0.01, `full: ${amplitudeCutoff(full)}`);
  const cut = full.slice(Math.round(0.3 * n));
  const estimate = amplitudeCutoff(cut);
  assert.ok(Math.abs(estimate - 0.3 / 0.7) < 0.02, `truncated: ${estimate}`);
  assert.is(amplitudeCutoff(full.slice(n / 2 + 2000)), 0.5, 'capped at 0.5');
}));

test('PC metrics of two well-separated Gaussian clusters', timed(() => {
  const rng = new SeededRandom(11);
  const d = 6, nA = 200, nB = 300;
  const x = normals(rng, (nA + nB) * d);
  for (let i = nA; i < nA + nB; i++) x[i * d] += 20;
  const own = Int32Array.from({ length: nA }, (_, i) => i);
  const other = Int32Array.from({ length: nB }, (_, i) => nA + i);
  const [isolation, lRatio] = mahalanobisMetrics(x, d, own, other);
  assert.ok(isolation > 100, `isolation distance ${isolation}`);
  assert.ok(lRatio < 1e-6, `l_ratio ${lRatio}`);
  const dPrime = ldaDPrime(x, d, own, other);
  assert.ok(dPrime > 10, `d' ${dPrime}`);
  assert.equal(nearestNeighborMetrics(x, d, own, other, 10000, 4), [1, 0]);
  // The same clusters on top of each other: nothing isolates them.
  for (let i = nA; i < nA + nB; i++) x[i * d] -= 20;
  const [isoSame, lSame] = mahalanobisMetrics(x, d, own, other);
  assert.ok(isoSame < 20 && lSame > 0.5, `overlapping: ${isoSame}, ${lSame}`);
  assert.ok(Math.abs(ldaDPrime(x, d, own, other)) < 1);
}));

test('silhouette scores from per-unit distance sums', timed(() => {
  // Three spikes on one channel: unit 0 at 0 and 1, unit 1 at 10 (1 PC, template channel 0).
  const pcFeatures = Float32Array.from([0, 1, 10]);
  const input = {
    templates: Int32Array.from([0, 0, 0]), sourceRows: Int32Array.from([0, 1, 2]), units: Int32Array.from([0, 0, 1]),
    unitCount: 2, pcFeatures, pcCount: 1, pcChannelCount: 1, pcFeatureInd: Uint32Array.from([0]),
  };
  const sums = distanceSums(input, () => true);
  const scores = silhouetteScores(input.units, 2, sums);
  // s(0) = (10 - 1) / 10, s(1) = (9 - 1) / 9, s(10): unit of one spike -> 0.
  const expected = (0.9 + 8 / 9 + 0) / 3;
  assert.ok(close(scores[0], expected) && close(scores[1], expected), `${scores}`);
}));

test('drift from known depths', timed(() => {
  // Depth: PC1 weights on channels 5, 6, 7 = (0, 2, 0) -> channel 6 -> 60; negatives clipped:
  // (-1, 1, 1) on channels 3, 4, 5 -> (4 + 5) / 2 -> 45.
  const pc = Float32Array.from([0, 2, 0, 9, 9, 9, -1, 1, 1, 9, 9, 9]); // 2 spikes x 2 PCs x 3 channels
  const depths = spikeDepths({ templates: Uint32Array.from([0, 1]), sourceRow: Int32Array.from([0, 1]) }, pc, 2, 3, Uint32Array.from([5, 6, 7, 3, 4, 5]));
  assert.equal(Array.from(depths), [60, 45]);
  // Medians 100, 130, 90 in intervals (0, 10), (10, 20), (20, 30); the fourth has too few spikes.
  const times: number[] = [], d: number[] = [];
  [[100, 0], [130, 10], [90, 20]].forEach(([depth, t0]) => { for (let i = 1; i <= 5; i++) { times.push(t0 + i); d.push(depth + (i - 3)); } });
  times.push(35); d.push(500);
  // Intervals start at the first spike of all units (numpy's float arange).
  assert.equal(Array.from(driftIntervals(0.5, 35, 10).starts), [0.5, 10.5, 20.5, 30.5]);
  const exact = driftIntervals(0, 40, 10);
  assert.equal(unitDrift(times, d, exact.starts, exact.ends, 10, 5), [40, 70]);
  assert.equal(unitDrift(times, d, exact.starts, exact.ends, 10, 50), [NaN, 0], 'no interval qualifies: max NaN, cumulative 0');
}));

test('CSV in pandas layout, merged with waveform metrics like DataFrame.merge', timed(() => {
  const table: Table = [
    { name: 'cluster_id', kind: 'int', values: [3, 5, 9] },
    { name: 'firing_rate', kind: 'float', values: [1, 0.1, 1e-5] },
    { name: 'l_ratio', kind: 'float', values: [NaN, 1e16, 123456.789] },
    { name: 'epoch_name', kind: 'string', values: ['complete_session', 'complete_session', 'complete_session'] },
  ];
  assert.is(formatCsv(table), ',cluster_id,firing_rate,l_ratio,epoch_name\n0,3,1.0,,complete_session\n1,5,0.1,1e+16,complete_session\n2,9,1e-05,123456.789,complete_session\n');
  const dir = tempDir();
  const wf = writeFile(dir, 'waveform_metrics.csv', ',cluster_id,epoch_name,peak_channel,snr,label\n0,9,complete_session,12,3.50,"a,b"\n1,3,complete_session,40,,x\n2,4,complete_session,7,1,y\n');
  const merged = mergeTables(table, readCsvTable(wf), 'cluster_id', ['_quality_metrics', '_waveform_metrics'], wf);
  assert.is(formatCsv(merged),
    ',cluster_id,firing_rate,l_ratio,epoch_name_quality_metrics,epoch_name_waveform_metrics,peak_channel,snr,label\n'
    + '0,3,1.0,,complete_session,complete_session,40,,x\n'
    + '1,9,1e-05,123456.789,complete_session,complete_session,12,3.5,"a,b"\n');
}));

function inputFor(dir: string, out: string, extra: Record<string, unknown> = {}) {
  return {
    directories: { kilosort_output_directory: dir }, ephys_params: { sample_rate: 30000 },
    quality_metrics_params: { quality_metrics_output_file: out, num_channels_to_compare: 7, drift_metrics_interval_s: 51, min_isi: 0.000166, ...extra },
  };
}

test('runs through the real host process; a malformed folder fails with a message and no output', timed(() => {
  const dir = tempDir('qm-host-');
  makeKsFolder(path.join(dir, 'ks'), { units: 12, spikes: 6000, durationS: 120, seed: 5 });
  const out = path.join(dir, 'ks', 'metrics.csv');
  fs.writeFileSync(path.join(dir, 'in.json'), JSON.stringify(inputFor(path.join(dir, 'ks'), out)));
  const host = path.join(repoRoot, 'dist', 'lib', 'builtin', 'host.js');
  const r = spawnSync(process.execPath, [host, 'quality_metrics', '--input_json', path.join(dir, 'in.json'), '--output_json', path.join(dir, 'out.json')], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const result = JSON.parse(fs.readFileSync(path.join(dir, 'out.json'), 'utf8'));
  assert.is(result.quality_metrics_output_file, out);
  assert.ok(result.input_parameters.quality_metrics_params);
  const lines = fs.readFileSync(out, 'utf8').trimEnd().split('\n');
  assert.is(lines[0], ',cluster_id,firing_rate,presence_ratio,isi_viol,isi_viol_corrected,amplitude_cutoff,isolation_distance,l_ratio,d_prime,nn_hit_rate,nn_miss_rate,silhouette_score,max_drift,cumulative_drift,epoch_name');
  assert.is(lines.length, 13);
  fs.rmSync(path.join(dir, 'ks', 'pc_features.npy'));
  fs.rmSync(out);
  const bad = spawnSync(process.execPath, [host, 'quality_metrics', '--input_json', path.join(dir, 'in.json')], { encoding: 'utf8' });
  assert.is(bad.status, 1);
  assert.match(bad.stderr, /^error: .*pc_features\.npy: missing; expected PC features/);
  assert.not.ok(fs.existsSync(out));
}));

test('without PC metrics: only the spike-train columns, no pc_features needed', timed(async () => {
  const dir = tempDir('qm-nopc-');
  makeKsFolder(dir, { units: 5, spikes: 2000, durationS: 60, seed: 9 });
  fs.rmSync(path.join(dir, 'pc_features.npy'));
  const out = path.join(dir, 'm.csv');
  await stage.run(inputFor(dir, out, { include_pc_metrics: false }), ctx);
  const lines = fs.readFileSync(out, 'utf8').split('\n');
  assert.is(lines[0], ',cluster_id,firing_rate,presence_ratio,isi_viol,isi_viol_corrected,amplitude_cutoff,epoch_name');
}));

test('the same CSV, to the last digit, on worker threads and in one thread', timed(async () => {
  const dir = tempDir('qm-threads-');
  makeKsFolder(dir, { units: 16, spikes: 60000, durationS: 300, seed: 4 });
  const outputs: string[] = [];
  for (const threads of ['2', '1']) {
    process.env.EPHYS_MAKE_QM_THREADS = threads;
    try {
      await stage.run(inputFor(dir, path.join(dir, `m${threads}.csv`)), ctx);
    } finally {
      delete process.env.EPHYS_MAKE_QM_THREADS;
    }
    outputs.push(fs.readFileSync(path.join(dir, `m${threads}.csv`), 'utf8'));
  }
  assert.is(outputs[0], outputs[1]);
}, 300_000));

test.run();
