/**
 * `ephys-make demo` as a new user meets it: the whole built-in chain on synthetic recordings, a
 * closing hint that runs as printed, and doctor content with the demo's pipeline.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { binPath, runCli, tempDir, timed } from './rig.js';

test('demo runs every stage, ends with a hint that works as printed, and runs nothing the second time', timed(async () => {
  const dir = tempDir();
  // `ephys-make` on PATH, as after `npm link`: the hint then names it so.
  const bin = tempDir();
  fs.symlinkSync(binPath, path.join(bin, 'ephys-make'));
  const env = { npm_command: undefined, PATH: `${bin}${path.delimiter}${process.env.PATH}` };
  const r = await runCli(['demo'], { cwd: dir, env, timeoutMs: 900_000 });
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^21 jobs done, 0 failed$/m);
  assert.match(r.stdout, /^ {4}against the ground truth: \d+ of \d+ units /m);
  const hint = /^see what ran and why: (.*)$/m.exec(r.stdout)?.[1];
  assert.is(hint, 'ephys-make status -f demo/pipeline.yaml');
  const status = spawnSync('sh', ['-c', hint!], { cwd: dir, encoding: 'utf8', env: { ...process.env, ...env, NO_COLOR: '1' } });
  assert.is(status.status, 0, status.stdout + status.stderr);
  assert.match(status.stdout, /^3 recordings: 21 up to date$/m);

  const doctor = await runCli(['doctor', '-f', 'demo/pipeline.yaml'], { cwd: dir });
  assert.is(doctor.code, 0, doctor.stdout + doctor.stderr);
  assert.not.match(doctor.stdout, /MISSING/);

  const again = await runCli(['demo'], { cwd: dir, env: { npm_command: 'exec' } });
  assert.is(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /^nothing to do: 21 jobs up to date$/m);
  assert.match(again.stdout, /^see what ran and why: npx ephys-make status -f demo\/pipeline\.yaml$/m);
}, 900_000));

test.run();
