/** End to end: `ephys-make all` over real folders with real child processes. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { timed, setMtime, writeFile, readStageLog } from './rig.js';
import { makeProject, fourStages, fakeCommand } from './project.js';

test('4 stages x 3 recordings: 12 jobs the first time, none the second', timed(async () => {
  const p = makeProject();
  const first = await p.run(['all', '-j', '3']);
  assert.is(first.code, 0, first.stdout + first.stderr);
  assert.is(p.starts(), 12);
  assert.match(first.stdout, /plan: 12 jobs, 12 to run, 0 up to date/);
  const second = await p.run(['all']);
  assert.is(second.code, 0);
  assert.is(p.starts(), 12);
  assert.match(second.stdout, /^nothing to do: 12 jobs up to date$/m);
}));

test("a changed input reruns only that recording's downstream jobs, and --explain names the file", timed(async () => {
  const p = makeProject();
  assert.is((await p.run(['all', '-j', '2'])).code, 0);
  fs.appendFileSync(path.join(p.rec('rec2'), 'probe.ap.bin'), 'more samples\n');
  const r = await p.run(['all', '--explain']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^run rec2 a: input changed: probe\.ap\.bin \(size 17 B -> 30 B\)$/m);
  assert.match(r.stdout, /^run rec2 b: upstream reran: a$/m);
  const reran = p.calls().filter((l) => l.event === 'start').slice(12).map((l) => l.label).sort();
  assert.equal(reran, ['rec2/a', 'rec2/b', 'rec2/c', 'rec2/d']);
}));

test('--set of a value in a stage input JSON reruns it and its downstream, naming key and values; an unused value reruns nothing', timed(async () => {
  const p = makeProject({ stages: fourStages() + `  e:\n    run: command\n    command: ${fakeCommand('{name}/e', ['{output}/c.out'], ['{output}/e.out'])}\n    inputs: ["{output}/c.out"]\n    outputs: ["{output}/e.out"]\n    sections: []\n    params:\n      e_params: {}\n` });
  assert.is((await p.run(['all'])).code, 0);
  const n = await p.run(['-n', '--set', 'c.c_params.threshold=5']);
  assert.match(n.stdout, /^would run rec1 c: params changed: c_params\.threshold 4 -> 5 \(from --set c\.c_params\.threshold=5\)$/m);
  assert.match(n.stdout, /^would run rec1 e: upstream reran: c$/m);
  assert.not.match(n.stdout, /rec1 [abd]:/);
  const r = await p.run(['all', '--set', 'c.c_params.threshold=5']);
  assert.is(r.code, 0);
  assert.is(p.starts(), 15 + 6);
  const input = JSON.parse(fs.readFileSync(path.join(p.rec('rec1'), '.ephys-make', 'c', 'input.json'), 'utf8'));
  assert.equal(input.c_params, { threshold: 5 });
  const own = await p.run(['-n', '--set', 'c.c_params.threshold=5', '--set', 'e.e_params.x=1']);
  assert.match(own.stdout, /^would run rec1 e: params changed: e_params\.x \(unset\) -> 1 \(from --set e\.e_params\.x=1\)$/m);
  // A shared section reaches the stages that take it (a-d take all), not e (sections: []).
  const shared = await p.run(['-n', '--set', 'c.c_params.threshold=5', '--set', 'params.shared.sample_rate=20000']);
  assert.match(shared.stdout, /^would run rec1 a: params changed: shared\.sample_rate 30000 -> 20000 \(from --set params\.shared\.sample_rate=20000\)$/m);
  assert.match(shared.stdout, /^would run rec1 e: upstream reran: c$/m);
}));

test('a value set to what it already is reruns nothing; a section no stage takes is an error with a did-you-mean', timed(async () => {
  const p = makeProject();
  assert.is((await p.run(['all'])).code, 0);
  const r = await p.run(['all', '--set', 'c.c_params.threshold=4']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^nothing to do: 12 jobs up to date$/m);
  const typo = await p.run(['all', '--set', 'params.shraed.sample_rate=1']);
  assert.is(typo.code, 2);
  assert.is(typo.stderr, "error: --set params.shraed.sample_rate=1: no stage takes a section 'shraed' (did you mean 'shared'?); sections: c_params, shared\n");
  const own = await p.run(['all', '--set', 'c.c_parms.threshold=5']);
  assert.is(own.code, 2);
  assert.is(own.stderr, "error: --set c.c_parms.threshold=5: stage 'c' takes no section 'c_parms' (did you mean 'c_params'?); sections: c_params, shared; to add one, declare it under stages.c.params in pipeline.yaml\n");
  assert.is(p.starts(), 12);
}));

test('a deleted or truncated output makes its job stale', timed(async () => {
  const p = makeProject({ recordings: ['r1'] });
  assert.is((await p.run(['all'])).code, 0);
  fs.rmSync(path.join(p.rec('r1'), 'c.out'));
  let r = await p.run(['-n']);
  assert.match(r.stdout, /^would run r1 c: output missing: c\.out$/m);
  assert.is((await p.run(['all'])).code, 0);
  fs.truncateSync(path.join(p.rec('r1'), 'b.out'), 3);
  r = await p.run(['-n']);
  assert.match(r.stdout, /^would run r1 b: output changed since the last run: b\.out$/m);
  assert.match(r.stdout, /^would run r1 c: input changed: b\.out \(size 25 B -> 3 B\)$/m);
}));

test('a failing job: exit 1, dependents not run, the log tail and path shown; -k runs the independent ones', timed(async () => {
  const stages = fourStages({ bExtra: ['--exit', '3'] });
  const p = makeProject({ recordings: ['r1', 'r2'], stages });
  const r = await p.run(['all']);
  assert.is(r.code, 1);
  assert.match(r.stdout, /FAILED r1 b: exit status 3/);
  assert.match(r.stdout, /\| fake-stage r1\/b failing on purpose with 3/);
  assert.match(r.stdout, new RegExp(`log: ${path.join(p.rec('r1'), '.ephys-make', 'b', 'log.txt').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.is(p.starts('r1/c'), 0);
  assert.is(p.starts('r2/b'), 0, 'the run stops launching after a failure');
  const k = await p.run(['all', '-k']);
  assert.is(k.code, 1);
  assert.is(p.starts('r2/d'), 1);
  assert.is(p.starts('r1/c') + p.starts('r2/c'), 0);
  const status = await p.run(['status']);
  assert.match(status.stdout, /r1 b: last run failed \(exit 3\); log: /);
}));

test('adoption: outputs newer than inputs with no record are up to date, and a record is written', timed(async () => {
  const p = makeProject({ recordings: ['old'] });
  const rec = p.rec('old');
  for (const f of ['a.out', 'b.out', 'c.out', 'd.out']) { writeFile(rec, f, 'made by hand\n'); setMtime(path.join(rec, f), 2_000_000_000); }
  setMtime(path.join(rec, 'probe.ap.bin'), 1_000_000_000);
  const r = await p.run(['all']);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.is(p.starts(), 0);
  assert.match(r.stdout, /adopt  old a: outputs newer than inputs; record written/);
  const state = JSON.parse(fs.readFileSync(path.join(rec, '.ephys-make', 'state.json'), 'utf8'));
  assert.is(state.jobs.c.status, 'done');
  assert.ok(state.jobs.c.adopted);
  // From now on signatures decide: touching an input makes the job stale.
  setMtime(path.join(rec, 'probe.ap.bin'), 1_000_000_100);
  const n = await p.run(['-n']);
  assert.match(n.stdout, /would run old a: input changed: probe\.ap\.bin \(modified/);
}));

test('outputs older than an input, with no record, are stale', timed(async () => {
  const p = makeProject({ recordings: ['old'] });
  const rec = p.rec('old');
  writeFile(rec, 'a.out', 'x'); setMtime(path.join(rec, 'a.out'), 1_000_000_000);
  setMtime(path.join(rec, 'probe.ap.bin'), 2_000_000_000);
  const n = await p.run(['-n', 'a']);
  assert.match(n.stdout, /^would run old a: input newer than output: probe\.ap\.bin is newer than a\.out$/m);
}));

test('folders named with spaces, quotes, ; and $ run correctly and nothing reaches a shell', timed(async () => {
  const names = ["it's a \"test\"; rm -rf $HOME", 'plain', 'a $(touch pwned) b'];
  const p = makeProject({ recordings: names });
  const r = await p.run(['all', '-j', '2']);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.is(p.starts(), 12);
  for (const n of names) assert.ok(fs.existsSync(path.join(p.rec(n), 'c.out')), n);
  assert.not.ok(fs.existsSync(path.join(p.dir, 'pwned')));
  assert.ok(fs.readFileSync(path.join(p.rec(names[0]), 'a.out'), 'utf8').startsWith(`${names[0]}/a\n`));
}));

test('-n prints what would run and runs nothing; a missing input nobody makes is reported', timed(async () => {
  const p = makeProject({ recordings: ['r1'] });
  const r = await p.run(['-n']);
  assert.is(r.code, 0);
  assert.match(r.stdout, /^would run r1 a: output missing: a\.out$/m);
  assert.match(r.stdout, /^4 of 4 jobs would run$/m);
  assert.is(p.starts(), 0);
  assert.not.ok(fs.existsSync(path.join(p.rec('r1'), '.ephys-make')));
  const target = await p.run(['-n', 'b']);
  assert.match(target.stdout, /^2 of 2 jobs would run$/m);
}));

test('a stage target brings its stale prerequisites and nothing else', timed(async () => {
  const p = makeProject({ recordings: ['r1'] });
  const r = await p.run(['b']);
  assert.is(r.code, 0);
  assert.equal(p.calls().filter((l) => l.event === 'start').map((l) => l.label), ['r1/a', 'r1/b']);
  assert.equal(readStageLog(p.log).length, 4);
}));

test('retries: a flaky job is tried again and the run succeeds', timed(async () => {
  const p = makeProject({ recordings: ['r1'], stages: fourStages({ bExtra: ['--fail-once', '{output}/flaky'] }).replace("outputs: [\"{output}/b.out\"]", "outputs: [\"{output}/b.out\"]\n    retries: 1") });
  const r = await p.run(['all']);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /FAILED r1 b: exit status 75\n(.|\n)*\(will retry\)/);
  assert.match(r.stdout, /^start  r1 b \(output missing: b\.out\) attempt 2$/m);
  assert.is(p.starts('r1/b'), 2);
  assert.is(p.starts('r1/c'), 1);
}));

test('temp outputs go once every consumer succeeded, and come back when needed again', timed(async () => {
  const p = makeProject({ recordings: ['r1'], stages: fourStages().replace("outputs: [\"{output}/a.out\"]", "outputs: [\"{output}/a.out\"]\n    temp: true") });
  assert.is((await p.run(['all'])).code, 0);
  assert.not.ok(fs.existsSync(path.join(p.rec('r1'), 'a.out')), 'removed after b and d succeeded');
  assert.match((await p.run(['all'])).stdout, /^nothing to do: 4 jobs up to date$/m);
  fs.rmSync(path.join(p.rec('r1'), 'd.out'));
  const n = await p.run(['-n']);
  assert.match(n.stdout, /^would run r1 a: temporary output removed earlier, needed again by d$/m);
  assert.is((await p.run(['all'])).code, 0);
  assert.ok(fs.existsSync(path.join(p.rec('r1'), 'd.out')));
}));

test('a stage that needs more disk than the output drive has does not start, and says so', timed(async () => {
  const p = makeProject({ recordings: ['r1'], stages: fourStages().replace("outputs: [\"{output}/b.out\"]", "outputs: [\"{output}/b.out\"]\n    space: \"900TB\"") });
  const r = await p.run(['all']);
  assert.is(r.code, 1);
  assert.match(r.stdout, /^FAILED r1 b: not enough disk space on the drive of .*r1: needs 900\.0 TB, [\d.]+ [KMGT]?B free$/m);
  assert.is(p.starts('r1/b'), 0);
}));

test('--checksum: a touched input with the same content reruns nothing; changed content does', timed(async () => {
  const p = makeProject({ recordings: ['r1'] });
  assert.is((await p.run(['all', '--checksum'])).code, 0);
  setMtime(path.join(p.rec('r1'), 'probe.ap.bin'), 2_000_000_000);
  assert.match((await p.run(['-n', '--checksum'])).stdout, /^nothing to do: 4 jobs up to date$/m);
  fs.writeFileSync(path.join(p.rec('r1'), 'probe.ap.bin'), 'other content\n');
  assert.match((await p.run(['-n', '--checksum'])).stdout, /^would run r1 a: input changed: probe\.ap\.bin \(size 15 B -> 14 B\)$/m);
}));

test.run();
