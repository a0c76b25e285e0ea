/**
 * The spawn window: an ephys-make killed after starting a job's process but before recording its
 * pid must not leave a job running that no record names. The job waits in a launcher for a
 * go-ahead that a dead parent never sends.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { isRunning, timed, waitUntil } from './rig.js';
import { makeProject, fourStages } from './project.js';

for (const point of ['spawned', 'recorded'] as const) {
  const when = point === 'spawned' ? 'before its pid is recorded' : 'after its pid is recorded, before it is let go';
  test(`ephys-make killed -9 right after spawning a job, ${when}: the job never runs; the next run runs it once`, timed(async () => {
    const p = makeProject({ recordings: ['r1'], stages: fourStages() });
    const faults = path.join(p.dir, 'faults.txt');
    const h = p.start(['all'], { env: { EPHYS_MAKE_FAULT_HOLD: point, EPHYS_MAKE_FAULT_FILE: faults } });
    await waitUntil(() => fs.existsSync(faults) && fs.readFileSync(faults, 'utf8').includes('\n'), `ephys-make to hold at '${point}'`);
    const [, pid, job] = fs.readFileSync(faults, 'utf8').trim().split(' ');
    assert.is(job, 'r1:a');
    h.child.kill('SIGKILL');
    await h.done;
    await waitUntil(() => !isRunning(Number(pid)), 'the launcher to give up');
    assert.is(p.starts('r1/a'), 0, 'the job never started');
    const n = await p.run(['-n']);
    assert.match(n.stdout, /^would run r1 a: last run interrupted \(pid \d+ on \S+\)$/m);
    const r = await p.run(['all']);
    assert.is(r.code, 0, r.stdout + r.stderr);
    assert.is(p.starts('r1/a'), 1);
    assert.match((await p.run(['-n'])).stdout, /^nothing to do: 4 jobs up to date$/m);
  }));
}

test('a program that is not there fails the job with one line, as before the launcher', timed(async () => {
  const p = makeProject({ recordings: ['r1'], stages: `
  a:
    run: command
    command: ["no-such-program-here", "{marker}"]
    inputs: ["{marker}"]
    outputs: ["{output}/a.out"]
` });
  const r = await p.run(['all']);
  assert.is(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /^FAILED r1 a: cannot start 'no-such-program-here': not found$/m);
  assert.not.match(r.stdout + r.stderr, /\n\s+at /);
}));

test('a job gets its progress pipe as fd 3 and nothing of the launcher (no fd 4)', timed(async () => {
  const p = makeProject({ recordings: ['r1'], stages: `
  a:
    run: command
    command: ["sh", "-c", "ls -l /proc/$$/fd > {output}/fds.txt; touch {output}/a.out"]
    inputs: ["{marker}"]
    outputs: ["{output}/a.out"]
` });
  const r = await p.run(['all']);
  assert.is(r.code, 0, r.stdout + r.stderr);
  const fds = fs.readFileSync(path.join(p.rec('r1'), 'fds.txt'), 'utf8');
  assert.match(fds, / 3 -> socket:/);
  assert.not.match(fds, / 4 -> /);
}));

test.run();
