/**
 * A done record vouches for its job's input JSON while what that JSON is made of is unchanged
 * (inputKey.ts), so a no-op run does not build every input JSON. Any change to what it is made of
 * still makes the job decide on the rebuilt JSON itself.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { timed, writeFile } from './rig.js';
import { makeProject } from './project.js';

const stateOf = (p: ReturnType<typeof makeProject>, rec: string) => JSON.parse(fs.readFileSync(path.join(p.rec(rec), '.ephys-make', 'state.json'), 'utf8')).jobs;

test('a value in ephys-make.yaml beside one recording replans that recording only, naming the file', timed(async () => {
  const p = makeProject();
  assert.is((await p.run(['all'])).code, 0);
  writeFile(p.rec('rec2'), 'ephys-make.yaml', 'stages:\n  c:\n    params:\n      c_params: { threshold: 7 }\n');
  const n = await p.run(['-n']);
  assert.match(n.stdout, /^would run rec2 c: params changed: c_params\.threshold 4 -> 7 \(from ephys-make\.yaml\)$/m);
  assert.equal(n.stdout.split('\n').filter((l) => l.startsWith('would run')), ['would run rec2 c: params changed: c_params.threshold 4 -> 7 (from ephys-make.yaml)']);
}));

test("editing one stage's params in pipeline.yaml replans that stage alone", timed(async () => {
  const p = makeProject();
  assert.is((await p.run(['all'])).code, 0);
  const file = path.join(p.dir, 'pipeline.yaml');
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('threshold: 4', 'threshold: 5'));
  const n = await p.run(['-n']);
  const lines = n.stdout.split('\n').filter((l) => l.startsWith('would run')).sort();
  assert.equal(lines, ['rec1', 'rec2', 'rec3'].map((r) => `would run ${r} c: params changed: c_params.threshold 4 -> 5`));
}));

test('a change that leaves the input JSON as it was reruns nothing, and the records vouch again', timed(async () => {
  const p = makeProject();
  assert.is((await p.run(['all'])).code, 0);
  const before = stateOf(p, 'rec1');
  // A comment only: ephys-make.yaml's signature changes, the input JSONs it feeds do not.
  writeFile(p.rec('rec1'), 'ephys-make.yaml', '# nothing to override yet\n');
  const r = await p.run(['all']);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^nothing to do: 12 jobs up to date$/m);
  const after = stateOf(p, 'rec1');
  for (const stage of ['a', 'b', 'c', 'd']) {
    assert.is(after[stage].inputHash, before[stage].inputHash, stage);
    assert.is.not(after[stage].layersKey, before[stage].layersKey, `${stage}: the record carries the new key`);
  }
  assert.is(p.starts(), 12);
}));

test('a job planned from its record and rerun because its upstream reran gets its full input JSON', timed(async () => {
  const p = makeProject({ recordings: ['rec1'] });
  assert.is((await p.run(['all'])).code, 0);
  const inputJson = path.join(p.rec('rec1'), '.ephys-make', 'c', 'input.json');
  const hash = stateOf(p, 'rec1').c.inputHash;
  fs.rmSync(inputJson);
  // b's output edited by hand: b and c rerun; c's record vouches for its input JSON, which is
  // built only now, to run.
  fs.appendFileSync(path.join(p.rec('rec1'), 'b.out'), 'edited\n');
  const r = await p.run(['all', '--explain']);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^run rec1 c: /m);
  assert.equal(JSON.parse(fs.readFileSync(inputJson, 'utf8')).c_params, { threshold: 4 });
  assert.is(stateOf(p, 'rec1').c.inputHash, hash);
}));

test('a folder where a .meta or ephys-make.yaml should be is reported for that recording, not taken as absent', timed(async () => {
  const p = makeProject();
  fs.mkdirSync(path.join(p.rec('rec1'), 'probe.ap.meta'));
  fs.mkdirSync(path.join(p.rec('rec2'), 'ephys-make.yaml'));
  const r = await p.run(['all']);
  assert.is(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /rec1\/probe\.ap\.meta.*EISDIR/);
  assert.match(r.stderr, /rec2\/ephys-make\.yaml.*a folder/);
  assert.match(r.stderr, /2 of 3 recordings not processed/);
  assert.is(p.starts(), 4, 'rec3 runs');
}));

test.run();
