/** Crash safety: kill -9 of ephys-make, SIGINT, orphaned jobs. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { timed, waitUntil, writeFile } from './rig.js';
import { makeProject, fourStages } from './project.js';

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

test('kill -9 mid-job: the next run reruns it as "last run interrupted" and stops the orphan first', timed(async () => {
  const p = makeProject({ recordings: ['r1'], stages: fourStages({ bExtra: ['--wait-for', '{root}/../go'] }) });
  const h = p.start(['all']);
  await waitUntil(() => p.starts('r1/b') === 1, 'b to start');
  const orphan = p.calls().find((l) => l.label === 'r1/b')!.pid;
  h.child.kill('SIGKILL');
  await h.done;
  assert.ok(alive(orphan), 'the job outlives a SIGKILLed ephys-make');
  const n = await p.run(['-n']);
  assert.match(n.stdout, /^would run r1 b: last run interrupted \(pid \d+ on .+\)$/m);
  assert.match(n.stdout, /^would run r1 c: output missing: c\.out$/m);
  assert.not.match(n.stdout, /r1 a:/);
  writeFile(p.dir, 'go', '');
  const r = await p.run(['all']);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /start  r1 b \(last run interrupted/);
  await waitUntil(() => !alive(orphan), 'the orphan to be stopped');
  assert.is(p.starts('r1/a'), 1);
  assert.is(p.starts('r1/b'), 2);
  const runs = fs.readFileSync(path.join(p.rec('r1'), '.ephys-make', 'runs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(runs.map((x) => `${x.stage} ${x.status}`), ['a done', 'b done', 'c done', 'd done']);
  assert.match(runs[1].reason, /^last run interrupted/);
}));

test('SIGINT: running job group stopped, record interrupted, lock released, exit 130', timed(async () => {
  const p = makeProject({ recordings: ['r1'], stages: fourStages({ bExtra: ['--wait-for', '{root}/../never'] }) });
  const h = p.start(['all']);
  await waitUntil(() => p.starts('r1/b') === 1, 'b to start');
  const job = p.calls().find((l) => l.label === 'r1/b')!.pid;
  h.child.kill('SIGINT');
  const r = await h.done;
  assert.is(r.code, 130, r.stdout + r.stderr);
  assert.match(r.stdout, /SIGINT: stopping running jobs/);
  await waitUntil(() => !alive(job), 'the job to be stopped');
  const state = JSON.parse(fs.readFileSync(path.join(p.rec('r1'), '.ephys-make', 'state.json'), 'utf8'));
  assert.is(state.jobs.b.status, 'interrupted');
  assert.is(state.jobs.a.status, 'done');
  assert.not.ok(fs.existsSync(path.join(p.rec('r1'), '.ephys-make', 'lock')));
  assert.not.ok(fs.existsSync(path.join(p.rec('r1'), 'b.out')));
  const n = await p.run(['-n']);
  assert.match(n.stdout, /^would run r1 b: last run interrupted/m);
}));

test.run();
