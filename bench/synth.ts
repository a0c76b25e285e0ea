/**
 * bench/synth: how fast `ephys-make synth` writes a default recording set (3 x 20 s, 384
 * channels, AP + LF), against two baselines measured in the same run: real time (what a probe
 * produces: 385 channels x 30 kHz x 2 bytes = 23.1 MB/s for the AP band) and writing the same
 * bytes of zeros through the same atomic-file path (what the disk allows). Target: at least
 * 10x real time on 2 cores.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PartialFile } from '../lib/base/atomicFile.js';
import { synthesize, type SynthOptions } from '../lib/synth/generate.js';

const options: Omit<SynthOptions, 'outDir'> = { recordings: 3, seconds: 20, channels: 384, layout: 'spikeglx', seed: 1 };

function writeZeros(dir: string, bytes: number): number {
  const chunk = new Uint8Array(6000 * 385 * 2);
  const t = process.hrtime.bigint();
  const f = new PartialFile(path.join(dir, 'zeros.bin'));
  for (let done = 0; done < bytes; done += chunk.length) f.write(chunk.subarray(0, Math.min(chunk.length, bytes - done)));
  f.commit();
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  fs.rmSync(path.join(dir, 'zeros.bin'));
  return seconds;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ephys-make-bench-synth-'));
  try {
    const cpu0 = process.cpuUsage();
    const s = await synthesize({ ...options, outDir: dir });
    const cpu = process.cpuUsage(cpu0);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const recorded = s.recordings.reduce((sum, r) => sum + r.samples / r.sampleRateHz, 0);
    const mbps = s.bytesWritten / 1e6 / s.elapsedSeconds;
    const ratio = recorded / s.elapsedSeconds;
    const cores = Math.min(2, os.availableParallelism());
    fs.rmSync(path.join(dir, 'data'), { recursive: true, force: true });
    const zeroSeconds = writeZeros(dir, s.bytesWritten);

    console.log(`synth: ${s.recordings.length} x ${options.seconds} s, ${options.channels} channels, AP + LF, ${s.layout}`);
    console.log(`  wrote ${(s.bytesWritten / 1e6).toFixed(0)} MB in ${s.elapsedSeconds.toFixed(2)} s: ${mbps.toFixed(0)} MB/s, ${ratio.toFixed(1)}x real time (target >= 10x)`);
    console.log(`  cpu ${cpuSeconds.toFixed(2)} s (user ${(cpu.user / 1e6).toFixed(2)}, system ${(cpu.system / 1e6).toFixed(2)}): `
      + `${(recorded / (cpuSeconds / cores)).toFixed(1)}x real time if ${cores} cores were free for it`);
    console.log(`  baseline, the same bytes of zeros through PartialFile: ${(s.bytesWritten / 1e6 / zeroSeconds).toFixed(0)} MB/s `
      + `(synth at ${((zeroSeconds / s.elapsedSeconds) * 100).toFixed(0)}% of that)`);
    console.log(`  load average during the run: ${os.loadavg()[0].toFixed(2)} (other work on the machine slows the wall-clock numbers)`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
