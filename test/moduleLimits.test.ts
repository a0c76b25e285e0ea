/**
 * lib/engine/moduleLimits.ts and `appends_to`: the Allen median-subtraction program is refused a
 * file whose channel count is not 384 (by planning, every run and doctor), and an output a
 * program appends to is removed before each run.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { runCli, tempDir, timed, writeFile } from './rig.js';
import { makeLab, type Lab } from './labs.js';

/** The shipped pipeline, its median subtraction switched to the Allen program (as for Open Ephys). */
function withAllenMedian(lab: Lab): void {
  const doc = YAML.parseDocument(fs.readFileSync(lab.pipeline, 'utf8'));
  doc.setIn(['stages', 'median_subtraction', 'run'], 'python-module');
  doc.setIn(['stages', 'median_subtraction', 'params'], doc.createNode({
    median_subtraction_params: { median_subtraction_executable: '/opt/SBMS', median_subtraction_repo: '/opt' },
  }));
  fs.writeFileSync(lab.pipeline, doc.toString());
}

const message = (rec: string) => `stage 'median_subtraction' runs the Allen median-subtraction program, which reads 384 channels per sample, `
  + `but recording ${rec} has 385 (ephys_params.num_channels, from `;

test('SpikeGLX (385 channels) with the Allen median program: a configuration error for -n, a run and doctor', timed(async () => {
  const lab = makeLab('spikeglx');
  withAllenMedian(lab);
  const rec = path.relative(path.join(lab.dir, 'data'), lab.rec);
  for (const args of [['-n'], ['all']]) {
    const r = await runCli([...args, '-f', lab.pipeline], { cwd: lab.dir });
    assert.is(r.code, 2, `${args}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message(rec));
    assert.match(r.stderr, "Use 'run: builtin' for this stage (it reads any channel count), or a 384-channel file");
    assert.match(r.stderr, /pipeline\.yaml:\d+:\d+ error: /);
  }
  assert.not.ok(fs.existsSync(path.join(lab.rec, 'continuous_ms.dat')), 'nothing ran');
  const d = await runCli(['doctor', '-f', lab.pipeline], { cwd: lab.dir });
  assert.is(d.code, 1, d.stdout + d.stderr);
  assert.match(d.stdout, message(rec));
}, 60_000));

test('the same recording with the shipped built-in, and an Open Ephys recording (384) with the program, plan fine', timed(async () => {
  const glx = makeLab('spikeglx');
  const r = await runCli(['-n', 'median_subtraction', '-f', glx.pipeline], { cwd: glx.dir });
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /would run \S+ median_subtraction/);
  const oe = makeLab('openephys');
  const o = await runCli(['-n', 'median_subtraction', '-f', oe.pipeline], { cwd: oe.dir });
  assert.is(o.code, 0, o.stdout + o.stderr);
}, 60_000));

test('appends_to: the output is removed before every run, so a rerun gives what the first run gave', timed(async () => {
  const dir = tempDir();
  writeFile(dir, 'data/r1/x.ap.bin', 'raw');
  const appender = writeFile(dir, 'append.mjs', "import fs from 'node:fs'; fs.appendFileSync(process.argv[2], 'one run\\n'); fs.writeFileSync(process.argv[3], 'done');\n");
  writeFile(dir, 'pipeline.yaml', `version: 1
recordings: { root: ./data, match: "**/*.ap.bin" }
stages:
  ms:
    run: command
    command: ["${process.execPath}", "${appender}", "{output}/residuals.dat", "{output}/out.dat"]
    outputs: ["{output}/out.dat", "{output}/residuals.dat"]
    appends_to: ["{output}/residuals.dat"]
`);
  assert.is((await runCli(['all'], { cwd: dir })).code, 0);
  assert.is((await runCli(['all', '-B'], { cwd: dir })).code, 0);
  assert.is(fs.readFileSync(path.join(dir, 'data/r1/residuals.dat'), 'utf8'), 'one run\n');
  // Without appends_to the program's appends pile up: what the key is for.
  const yaml = fs.readFileSync(path.join(dir, 'pipeline.yaml'), 'utf8').replace(/\n {4}appends_to:.*\n/, '\n');
  fs.writeFileSync(path.join(dir, 'pipeline.yaml'), yaml);
  assert.is((await runCli(['all', '-B'], { cwd: dir })).code, 0);
  assert.is(fs.readFileSync(path.join(dir, 'data/r1/residuals.dat'), 'utf8'), 'one run\none run\n');
}, 60_000));

test('appends_to must name declared outputs: the engine removes nothing else', timed(async () => {
  const dir = tempDir();
  writeFile(dir, 'pipeline.yaml', `version: 1
recordings: { root: ./data, match: "**/*.ap.bin" }
stages:
  ms:
    run: command
    command: ["true"]
    outputs: ["{output}/out.dat"]
    appends_to: ["{output}/residuals.dat"]
`);
  const r = await runCli(['-n'], { cwd: dir });
  assert.is(r.code, 2);
  assert.match(r.stderr, "pipeline.yaml:8:18 error: stages.ms.appends_to: '{output}/residuals.dat' is not one of the stage's outputs; list it under outputs too (the engine removes only declared outputs)");
}, 60_000));

test.run();
