import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { repoRoot, runCli, tempDir, timed, writeFile } from './rig.js';

const head = 'version: 1\nrecordings:\n  root: ./data\n  match: "**/*.ap.bin"\n';

test('doctor lists what is missing and how to fix it', timed(async () => {
  const dir = tempDir();
  writeFile(dir, 'pipeline.yaml', head + `python: python3
stages:
  metrics:
    run: python-module
    module: quality_metrics
    outputs: ["{output}/m.csv"]
  sort:
    run: command
    command: ["no-such-sorter-program", "{input_json}"]
    outputs: ["{output}/s"]
  typo:
    run: builtin
    module: median_subtractoin
    outputs: ["{output}/x"]
  ms:
    run: python-module
    module: median_subtraction
    outputs: ["{output}/y"]
    params:
      median_subtraction_params: { median_subtraction_executable: /nonexistent/SpikeBandMedianSubtraction }
`);
  const r = await runCli(['doctor'], { cwd: dir });
  assert.is(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /^ok       metrics: interpreter python3 \(Python \d/m);
  assert.match(r.stdout, /^MISSING  metrics: module ecephys_spike_sorting\.modules\.quality_metrics is not importable with python3$/m);
  assert.match(r.stdout, /^MISSING  sort: program 'no-such-sorter-program' not found on PATH\n         fix: install it, or give its full path in stages\.sort\.command$/m);
  assert.match(r.stdout, /^MISSING  typo: no built-in stage 'median_subtractoin'\n         fix: use one of: .*median_subtraction/m);
  assert.match(r.stdout, /^MISSING  ms: median_subtraction_executable \/nonexistent\/SpikeBandMedianSubtraction does not exist\n         fix: set stages\.ms\.params\.median_subtraction_params\.median_subtraction_executable in pipeline\.yaml to where it is on this machine$/m);
  assert.match(r.stdout, /^5 things missing$/m);
}));

test('doctor is quiet about a pipeline that has what it needs', timed(async () => {
  const dir = tempDir();
  writeFile(dir, 'pipeline.yaml', head + 'stages:\n  copy:\n    run: command\n    command: cp {marker} {output}/x\n    outputs: ["{output}/x"]\n  ms:\n    run: builtin\n    module: median_subtraction\n    outputs: ["{output}/y"]\n');
  const r = await runCli(['doctor'], { cwd: dir });
  assert.is(r.code, 0, r.stdout);
  assert.match(r.stdout, /^ok       copy: command \/.*\/cp$/m);
  assert.match(r.stdout, /^everything the pipeline needs is here$/m);
}));

test("doctor checks what a stage's runner uses: a built-in reads no program or classifier path, noise_templates' classifier_path is never read", timed(async () => {
  const dir = tempDir();
  writeFile(dir, 'pipeline.yaml', head + `python: python3
params:
  median_subtraction_params: { median_subtraction_executable: /nonexistent/SpikeBandMedianSubtraction }
stages:
  ms:
    run: builtin
    module: median_subtraction
    outputs: ["{output}/y"]
  nt:
    run: builtin
    module: noise_templates
    outputs: ["{output}/z"]
    params:
      noise_waveform_params: { classifier_path: unused }
  nt_allen:
    run: python-module
    module: noise_templates
    outputs: ["{output}/w"]
    params:
      noise_waveform_params: { classifier_path: /nonexistent/rf_classifier.pkl }
`);
  const r = await runCli(['doctor'], { cwd: dir });
  assert.not.match(r.stdout, /classifier_path|median_subtraction_executable/);
  assert.match(r.stdout, /^ok       ms: built-in median_subtraction$/m);
  assert.match(r.stdout, /^ok       nt: built-in noise_templates$/m);
  assert.match(r.stdout, /^MISSING  nt_allen: module ecephys_spike_sorting\.modules\.noise_templates is not importable with python3$/m);
  assert.match(r.stdout, /^1 thing missing$/m);
}));

test('the demo pipeline, all built in, has everything it needs', timed(async () => {
  const r = await runCli(['doctor', '-f', path.join(repoRoot, 'examples', 'demo.pipeline.yaml')], { cwd: tempDir() });
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.not.match(r.stdout, /MISSING/);
  assert.match(r.stdout, /^everything the pipeline needs is here$/m);
}));

test.run();
