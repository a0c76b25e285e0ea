/** `status` and `graph` print what they promise. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { timed } from './rig.js';
import { makeProject } from './project.js';

test('status: recordings x stages with up to date, stale (reason) and failed', timed(async () => {
  const p = makeProject({ recordings: ['r1', 'r2'] });
  assert.is((await p.run(['all'])).code, 0);
  fs.rmSync(path.join(p.rec('r2'), 'd.out'));
  const r = await p.run(['status']);
  assert.is(r.code, 0);
  assert.match(r.stdout, /^recording  a           b           c           d$/m);
  assert.match(r.stdout, /^r1         up to date  up to date  up to date  up to date$/m);
  assert.match(r.stdout, /^r2         up to date  up to date  up to date  stale$/m);
  assert.match(r.stdout, /^r2 d: stale: output missing: d\.out$/m);
  assert.match(r.stdout, /^2 recordings: 7 up to date, 1 stale$/m);
}));

test('status: a mistake every recording shares is said once, with how many recordings have it', timed(async () => {
  const p = makeProject({ recordings: ['r1', 'r2', 'r3', 'r4'] });
  const yaml = path.join(p.dir, 'pipeline.yaml');
  fs.writeFileSync(yaml, fs.readFileSync(yaml, 'utf8').replace('outputs: ["{output}/d.out"]', 'outputs: ["{output}/{no_such_key}.out"]'));
  const r = await p.run(['status']);
  assert.is(r.code, 2);
  assert.match(r.stdout, /^r4 +\? +\? +\? +\?$/m);
  const said = r.stderr.match(/unknown placeholder \{no_such_key\}/g) ?? [];
  assert.is(said.length, 1, r.stderr);
  assert.match(r.stderr, /pipeline\.yaml:\d+:\d+ error: .*\(and in 3 more recordings\)/);
}));

test('graph: DOT by default, Mermaid on request, edges labelled by file', timed(async () => {
  const p = makeProject({ recordings: ['r1'] });
  const dot = await p.run(['graph']);
  assert.is(dot.code, 0);
  assert.match(dot.stdout, /^digraph pipeline \{$/m);
  assert.match(dot.stdout, /^  "a" -> "b" \[label="a\.out"\];$/m);
  assert.match(dot.stdout, /^  "a" -> "d" \[label="a\.out"\];$/m);
  assert.match(dot.stdout, /^  "b" -> "c" \[label="b\.out"\];$/m);
  const mer = await p.run(['graph', '--mermaid', 'c']);
  assert.match(mer.stdout, /^flowchart TD$/m);
  assert.match(mer.stdout, /^  b -->\|"b\.out"\| c$/m);
  assert.not.match(mer.stdout, /\bd\[/);
}));

test('clean removes a stage\'s outputs and records and drops downstream records', timed(async () => {
  const p = makeProject({ recordings: ['r1'] });
  assert.is((await p.run(['all'])).code, 0);
  const r = await p.run(['clean', 'b']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /cleaned b in 1 recording: 1 file removed; records of c dropped/);
  assert.not.ok(fs.existsSync(path.join(p.rec('r1'), 'b.out')));
  assert.ok(fs.existsSync(path.join(p.rec('r1'), 'a.out')));
  assert.ok(fs.existsSync(path.join(p.rec('r1'), 'probe.ap.bin')), 'sources are never touched');
  const n = await p.run(['-n']);
  assert.match(n.stdout, /^would run r1 b: output missing: b\.out$/m);
  assert.match(n.stdout, /^would run r1 c: upstream reran: b$/m);
}));

test.run();
