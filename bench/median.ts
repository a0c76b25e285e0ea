/**
 * `node dist/bench/median.js [GB] [ROUNDS]`: the built-in median_subtraction (run as a job runs
 * it, in the built-in host) against copying the same 384-channel file, in the same run:
 * `cp` followed by `sync` of the copy (durable, as the stage's output is before its rename) and
 * plain `cp` (the copy only in the page cache). Target: at least 0.9 of `cp` + `sync`.
 *
 * With ALLEN_MEDIAN_PROGRAM pointing at a compiled SpikeBandMedianSubtraction, the real Allen
 * program is timed on a copy of the same file too (it rewrites its input in place, and does not
 * fsync: its time is printed with and without a `sync` after it).
 *
 * Contenders are interleaved, each after a `sync` (this file system is mounted with `discard`:
 * deleting a GB queues discards that slow down whatever writes next), and the best of ROUNDS is
 * compared; every run is printed, since the machine is shared and one run can be slowed by anything.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { allenFromEnvironment } from './oracle/allen.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const hostPath = path.resolve(here, '..', 'lib', 'builtin', 'host.js');
const numChannels = 384;
const rowBytes = 2 * numChannels;
const sizeGB = Number(process.argv[2] ?? 2.1);
const rounds = Number(process.argv[3] ?? 5);
const allenProgram = allenFromEnvironment().medianProgram;

function makeRecording(file: string, bytes: number): void {
  // Noise plus a common-mode signal plus per-channel offsets, cycled from a 64 MiB block:
  // the kernel is branch-free, so its speed does not depend on the values.
  const blockSamples = Math.floor((64 << 20) / rowBytes);
  const block = new Int16Array(blockSamples * numChannels);
  let seed = 12345;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) - 0.5;
  for (let s = 0; s < blockSamples; s++) {
    const common = rand() * 200;
    for (let c = 0; c < numChannels; c++) block[s * numChannels + c] = Math.round(rand() * 60 + common + (c % 7) * 10);
  }
  const fd = fs.openSync(file, 'w');
  const bytesOfBlock = new Uint8Array(block.buffer);
  for (let written = 0; written < bytes;) {
    const n = Math.min(bytesOfBlock.length, bytes - written);
    fs.writeSync(fd, bytesOfBlock, 0, n);
    written += n;
  }
  fs.fsyncSync(fd);
  fs.closeSync(fd);
}

function timed(label: string, argv: string[], cwd?: string): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { cwd, stdio: ['ignore', 'ignore', 'inherit'] });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${label} failed (exit ${r.status ?? r.signal})`);
  return seconds;
}

function main(): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ephys-make-bench-median-'));
  try {
    const samples = Math.ceil((sizeGB * 1e9) / rowBytes);
    const bytes = samples * rowBytes;
    const input = path.join(dir, 'continuous.dat');
    const load = () => os.loadavg().map((l) => l.toFixed(1)).join(' ');
    console.log(`load average (1, 5, 15 min) at start: ${load()} on ${os.availableParallelism()} cores`);
    console.log(`making ${(bytes / 1e9).toFixed(2)} GB recording (${numChannels} channels, ${samples} samples) in ${dir}; best of ${rounds}`);
    makeRecording(input, bytes);
    const probeJson = path.join(dir, 'probe_info.json');
    fs.writeFileSync(probeJson, JSON.stringify({
      channel: Array.from({ length: numChannels }, (_, c) => c),
      offset: Array.from({ length: numChannels }, (_, c) => (c % 7) * 10),
      scaling: new Array(numChannels).fill(1.0),
      mask: Array.from({ length: numChannels }, (_, c) => c !== 191),
      surface_channel: 384, air_channel: 384,
    }));
    // Read it once so every contender starts from the page cache.
    timed('warm-up', ['cat', input]);

    const rate = (s: number) => `${(bytes / s / 1e9).toFixed(2)} GB/s`;
    const copy = path.join(dir, 'copy.dat');
    const inputJson = path.join(dir, 'input.json');
    const output = path.join(dir, 'out', 'median_subtracted.dat');
    fs.writeFileSync(inputJson, JSON.stringify({
      ephys_params: { ap_band_file: input, num_channels: numChannels, sample_rate: 30000 },
      common_files: { probe_json: probeJson },
      median_subtraction_params: { output_file: output },
      directories: {},
    }));
    const cpRuns: number[] = [], syncRuns: number[] = [], builtinRuns: number[] = [], inProcessRuns: number[] = [];
    const quiet = () => timed('sync', ['sync']);
    for (let round = 0; round < rounds; round++) {
      quiet();
      cpRuns.push(timed('cp', ['cp', input, copy]));
      syncRuns.push(timed('sync', ['sync', copy]));
      fs.rmSync(copy);
      quiet();
      builtinRuns.push(timed('built-in', [process.execPath, hostPath, 'median_subtraction', '--input_json', inputJson, '--output_json', path.join(dir, 'output.json')]));
      // The host's own measure, from the stage's start to its output being durable: without
      // starting Node and loading the code, which a busy machine can make take a second.
      inProcessRuns.push(JSON.parse(fs.readFileSync(path.join(dir, 'output.json'), 'utf8')).execution_time);
      fs.rmSync(path.join(dir, 'out'), { recursive: true });
    }
    const best = (v: number[]) => Math.min(...v);
    const cpSeconds = best(cpRuns);
    const cpSyncRuns = cpRuns.map((c, i) => c + syncRuns[i]);
    const cpSyncSeconds = best(cpSyncRuns);
    const builtinSeconds = best(builtinRuns);
    const list = (v: number[]) => v.map((x) => x.toFixed(2)).join(', ');
    console.log(`cp:                  ${cpSeconds.toFixed(2)} s  ${rate(cpSeconds)}  (runs: ${list(cpRuns)})`);
    console.log(`cp + sync (durable): ${cpSyncSeconds.toFixed(2)} s  ${rate(cpSyncSeconds)}  (runs: ${list(cpSyncRuns)})`);
    console.log(`built-in (durable):  ${builtinSeconds.toFixed(2)} s  ${rate(builtinSeconds)}  (runs: ${list(builtinRuns)})`);
    console.log(`  of which in the stage: ${best(inProcessRuns).toFixed(2)} s  (runs: ${list(inProcessRuns)}; the rest is starting Node and loading the code)`);
    console.log(`ratio built-in / cp + sync: ${(cpSyncSeconds / builtinSeconds).toFixed(2)} (target >= 0.90; per round: ${list(cpSyncRuns.map((c, i) => c / builtinRuns[i]))})`);
    console.log(`ratio in the stage / cp + sync: ${(cpSyncSeconds / best(inProcessRuns)).toFixed(2)} (per round: ${list(cpSyncRuns.map((c, i) => c / inProcessRuns[i]))})`);
    console.log(`ratio built-in / cp:        ${(cpSeconds / builtinSeconds).toFixed(2)} (cp leaves its copy in the page cache)`);
    console.log(`load average after the rounds: ${load()}`);

    if (allenProgram) {
      // The program rewrites its input and appends to residuals.dat beside it: give it a copy.
      const work = path.join(dir, 'allen');
      fs.mkdirSync(work);
      timed('cp', ['cp', input, path.join(work, 'continuous.dat')]);
      quiet();
      const programSeconds = timed('Allen program', [allenProgram, probeJson, 'continuous.dat', '384'], work);
      const programSync = timed('sync', ['sync', path.join(work, 'continuous.dat'), path.join(work, 'residuals.dat')]);
      console.log(`Allen program:       ${programSeconds.toFixed(2)} s  ${rate(programSeconds)}; with a sync after it ${(programSeconds + programSync).toFixed(2)} s  ${rate(programSeconds + programSync)}`);
      console.log(`ratio built-in / Allen program: ${(programSeconds / builtinSeconds).toFixed(1)}x faster (${((programSeconds + programSync) / builtinSeconds).toFixed(1)}x against the program + sync)`);
    } else {
      console.log('Allen program: set ALLEN_MEDIAN_PROGRAM to a compiled SpikeBandMedianSubtraction (or ALLEN_ORACLE) to time it on the same file');
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main();
