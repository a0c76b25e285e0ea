/**
 * The real SpikeBandMedianSubtraction program on the crafted 384-channel files of
 * test/medianCases.ts (every group size, int16 extremes, air channels, an empty group), run as the
 * module runs it: `<program> <probe_json> <ap_band_file> <int(air_channel)>`. What it wrote goes to
 * test/fixtures/golden/median_subtraction/crafted/ (README.md there says what each file is).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { channels, craftedCases, groups, sampledWindows } from '../../test/medianCases.js';
import type { Context } from './produce.js';

const sha256 = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');
const bytesOf = (x: Int16Array) => new Uint8Array(x.buffer, x.byteOffset, x.byteLength);

/** `build` says how the program was compiled (compiler and flags), for the manifest. */
export function medianCrafted(c: Context, build: string): void {
  if (!c.medianProgram) throw new Error('median_subtraction needs --median-program');
  const here = path.join(c.out, 'median_subtraction', 'crafted');
  fs.mkdirSync(here, { recursive: true });
  const manifest = {
    program: {
      source: `AllenInstitute/ecephys_spike_sorting ${c.stamp.commit} ecephys_spike_sorting/modules/median_subtraction/SpikeBandMedianSubtraction/Source/Main.cpp`,
      juce: `juce-framework/JUCE ${c.juceCommit ?? '(commit not given)'} (juce_core)`,
      build,
      platform: `${os.platform()} ${os.arch()}`,
    },
    cases: [] as Record<string, unknown>[],
  };
  for (const k of craftedCases) {
    const dir = fs.mkdtempSync(path.join(c.work, 'median-crafted-'));
    try {
      const { data, probe } = k.make();
      const input = bytesOf(data);
      const probeText = JSON.stringify(probe);
      fs.writeFileSync(path.join(dir, 'continuous.dat'), input);
      fs.writeFileSync(path.join(dir, 'probe_info.json'), probeText);
      fs.writeFileSync(path.join(here, `${k.name}.probe_info.json`), probeText);
      const run = spawnSync(c.medianProgram, ['probe_info.json', 'continuous.dat', String(k.maxChannel)], { cwd: dir, encoding: 'utf8' });
      const output = fs.readFileSync(path.join(dir, 'continuous.dat'));
      const residualsPath = path.join(dir, 'residuals.dat');
      const residuals = fs.existsSync(residualsPath) ? fs.readFileSync(residualsPath) : Buffer.alloc(0);
      const entry: Record<string, unknown> = {
        name: k.name, about: k.about, samples: k.samples, max_channel: k.maxChannel,
        input_sha256: sha256(input), probe_json_sha256: sha256(Buffer.from(probeText)),
      };
      if (k.programCrashes) {
        if (run.status === 0) throw new Error(`${k.name}: expected the program to fail, it exited 0`);
        entry.program = { status: run.status, signal: run.signal, input_unchanged: Buffer.compare(output, input) === 0, residuals_bytes: residuals.length };
      } else {
        if (run.status !== 0) throw new Error(`${k.name}: program exited ${run.status ?? run.signal}: ${run.stderr}`);
        const seen = /File size in samples: (\d+)/.exec(run.stdout)?.[1];
        if (Number(seen) !== k.samples) throw new Error(`${k.name}: program saw ${seen} samples, expected ${k.samples}`);
        if (residuals.length !== k.samples * groups * 2) throw new Error(`${k.name}: residuals.dat has ${residuals.length} bytes`);
        Object.assign(entry, { output_sha256: sha256(output), residuals_sha256: sha256(residuals), program_stdout_samples: Number(seen) });
        if (k.storeWhole) {
          fs.writeFileSync(path.join(here, `${k.name}.output.bin`), output);
          fs.writeFileSync(path.join(here, `${k.name}.residuals.bin`), residuals);
        } else {
          const windows = sampledWindows(k.samples);
          const pieces = windows.flatMap(([a, b]) => [output.subarray(a * channels * 2, b * channels * 2), residuals.subarray(a * groups * 2, b * groups * 2)]);
          fs.writeFileSync(path.join(here, `${k.name}.windows.bin`), Buffer.concat(pieces));
          entry.windows = windows;
        }
      }
      manifest.cases.push(entry);
      c.log(`median_subtraction crafted ${k.name}: ${k.programCrashes ? `program failed as expected (${run.signal ?? run.status})` : 'ok'}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  fs.writeFileSync(path.join(here, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
}
