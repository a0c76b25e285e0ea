/**
 * `node dist/bench/median.js [GB]`: the built-in median_subtraction against `cp` of the same
 * file (the floor for any stage that reads and writes every byte) and, where /usr/bin/python3 has
 * numpy, against a numpy median subtraction, all in the same run on the same cached file.
 * Target: at least 0.7 of cp's throughput. The stage makes its output durable before renaming it
 * into place (a crash must never leave a short file under the real name: O_DIRECT writes, then
 * fsync) and cp leaves its copy in the page cache, so the ratio against `cp` followed by `sync`
 * is printed as well.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const hostPath = path.resolve(here, '..', 'lib', 'builtin', 'host.js');
const numChannels = 384;
const rowBytes = 2 * numChannels;
const sizeGB = Number(process.argv[2] ?? 2.1);
const rounds = 3;

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

function timed(label: string, argv: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${label} failed (exit ${r.status})`);
  return seconds;
}

const numpyScript = `
import sys, os, numpy as np
src, dst, nch = sys.argv[1], sys.argv[2], int(sys.argv[3])
x = np.memmap(src, dtype=np.int16, mode='r').reshape(-1, nch)
block = 30000
with open(dst, 'wb') as out:
    for start in range(0, x.shape[0], block):
        o = np.asarray(x[start:start + block], dtype=np.int16)
        g = o.reshape(o.shape[0], nch // 24, 24)
        med = np.median(g, axis=1).astype(np.int16)
        (g - med[:, None, :]).astype(np.int16).tofile(out)
    out.flush()
    os.fsync(out.fileno())
`;

function hasNumpy(): boolean {
  return spawnSync('/usr/bin/python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
}

function main(): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ephys-make-bench-median-'));
  try {
    const samples = Math.ceil((sizeGB * 1e9) / rowBytes);
    const bytes = samples * rowBytes;
    const input = path.join(dir, 'continuous.dat');
    console.log(`making ${(bytes / 1e9).toFixed(2)} GB recording (${numChannels} channels, ${samples} samples) in ${dir}`);
    makeRecording(input, bytes);
    // Read it once so every contender starts from the page cache.
    timed('warm-up', ['cat', input]);

    const rate = (s: number) => `${(bytes / s / 1e9).toFixed(2)} GB/s`;
    const copy = path.join(dir, 'copy.dat');
    const inputJson = path.join(dir, 'input.json');
    const output = path.join(dir, 'out', 'median_subtracted.dat');
    fs.writeFileSync(inputJson, JSON.stringify({
      ephys_params: { ap_band_file: input, num_channels: numChannels, sample_rate: 30000, reference_channels: [191] },
      median_subtraction_params: { output_file: output },
      directories: {},
    }));
    // Interleaved, best of three: on a shared machine one run can be slowed by anything.
    const cpRuns: number[] = [], syncRuns: number[] = [], builtinRuns: number[] = [];
    // This file system is mounted with `discard`: deleting 2 GB queues discards that slow down
    // whatever writes next, so every contender starts after a sync that lets them finish.
    const quiet = () => timed('sync', ['sync']);
    for (let round = 0; round < rounds; round++) {
      quiet();
      cpRuns.push(timed('cp', ['cp', input, copy]));
      syncRuns.push(timed('sync', ['sync', copy]));
      fs.rmSync(copy);
      quiet();
      builtinRuns.push(timed('built-in', [process.execPath, hostPath, 'median_subtraction', '--input_json', inputJson, '--output_json', path.join(dir, 'output.json')]));
      fs.rmSync(path.join(dir, 'out'), { recursive: true });
    }
    const best = (v: number[]) => Math.min(...v);
    const cpSeconds = best(cpRuns);
    const cpSyncSeconds = best(cpRuns.map((c, i) => c + syncRuns[i]));
    const builtinSeconds = best(builtinRuns);
    const list = (v: number[]) => v.map((x) => x.toFixed(2)).join(', ');
    console.log(`cp:                      ${cpSeconds.toFixed(2)} s  ${rate(cpSeconds)}  (runs: ${list(cpRuns)})`);
    console.log(`cp + sync (durable):     ${cpSyncSeconds.toFixed(2)} s  ${rate(cpSyncSeconds)}  (sync runs: ${list(syncRuns)})`);
    console.log(`built-in (durable):      ${builtinSeconds.toFixed(2)} s  ${rate(builtinSeconds)}  (runs: ${list(builtinRuns)})`);
    console.log(`ratio built-in / cp:        ${(cpSeconds / builtinSeconds).toFixed(2)} (target >= 0.70)`);
    console.log(`ratio built-in / cp + sync: ${(cpSyncSeconds / builtinSeconds).toFixed(2)} (both durable: the stage's output is on disk before its rename, cp's only after sync)`);

    if (hasNumpy()) {
      const script = path.join(dir, 'numpy_median.py');
      fs.writeFileSync(script, numpyScript);
      const npOut = path.join(dir, 'numpy.dat');
      quiet();
      const npSeconds = timed('numpy', ['/usr/bin/python3', script, input, npOut, String(numChannels)]);
      fs.rmSync(npOut);
      console.log(`numpy (fsynced):       ${npSeconds.toFixed(2)} s  ${rate(npSeconds)}`);
      console.log(`ratio built-in / numpy: ${(npSeconds / builtinSeconds).toFixed(2)}x faster`);
    } else {
      console.log('numpy: /usr/bin/python3 cannot import numpy (apt-get install python3-numpy); skipped');
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main();
