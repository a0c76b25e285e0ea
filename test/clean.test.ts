/** `ephys-make clean`: -n changes nothing; a recording's own files are never removed. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { timed, writeFile } from './rig.js';
import { makeProject, fakeCommand } from './project.js';

/** Every file under `dir` with its size: what must not change. */
function snapshot(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p); else out[path.relative(dir, p)] = fs.statSync(p).size;
    }
  };
  walk(dir);
  return out;
}

test('clean -n removes nothing and prints what clean would remove', timed(async () => {
  const p = makeProject({ recordings: ['r1', 'r2'] });
  assert.is((await p.run(['all'])).code, 0);
  const before = snapshot(p.root);
  const n = await p.run(['clean', '-n', 'b']);
  assert.is(n.code, 0, n.stderr);
  assert.equal(snapshot(p.root), before);
  assert.match(n.stdout, new RegExp(`^would remove ${p.rec('r1')}/b\\.out$`, 'm'));
  assert.match(n.stdout, new RegExp(`^would remove ${p.rec('r2')}/b\\.out$`, 'm'));
  assert.not.match(n.stdout, /a\.out/);
  assert.match(n.stdout, /^would clean b in 2 recordings: 2 files would be removed; records of c would be dropped$/m);
  // Nothing changed: the plan still says everything is up to date.
  assert.match((await p.run(['-n'])).stdout, /^nothing to do: 8 jobs up to date$/m);
  const real = await p.run(['clean', 'b']);
  assert.is(real.code, 0, real.stderr);
  assert.not.ok(fs.existsSync(path.join(p.rec('r1'), 'b.out')));
  assert.ok(fs.existsSync(path.join(p.rec('r1'), 'probe.ap.bin')));
}));

const ownStage = (outs: string[], extra = '') => `
  a:
    run: command
    command: ${fakeCommand('{name}/a', ['{marker}'], outs)}
    inputs: ["{marker}"]
    outputs: ${JSON.stringify(outs)}
${extra}`;

const cases: Array<[string, string[], string, RegExp]> = [
  ['{marker}', ['{marker}'], '', /output '\{marker\}' can be the recording's marker/],
  ['a value that is {marker}', ['{raw}'], '    params:\n      x: { raw: "{marker}" }\n', /output '\{raw\}' can be the recording's marker/],
  ['a name matching recordings.match', ['{output}/copy.ap.bin'], '', /output '\{output\}\/copy\.ap\.bin' can be a file matching recordings\.match '\*\*\/\*\.ap\.bin'/],
  ['a .meta file', ['{recording}/probe.ap.meta'], '', /output '\{recording\}\/probe\.ap\.meta' can be a SpikeGLX \.meta file/],
  ['structure.oebin', ['{recording}/structure.oebin'], '', /can be Open Ephys's structure\.oebin/],
  ['an input no stage makes', ['{recording}/notes.txt'], '    after: []\n  z:\n    run: command\n    command: ["true"]\n    inputs: ["{output}/notes.txt"]\n    outputs: ["{output}/z.out"]\n', /output '\{recording\}\/notes\.txt' can be an input of the recording \(stage 'z' reads it as '\{output\}\/notes\.txt', and no stage makes it\)/],
];

for (const [what, outs, extra, message] of cases) {
  test(`an output that can be a recording's own file is a config error: ${what}`, timed(async () => {
    const p = makeProject({ recordings: ['r1'], stages: ownStage(outs, extra) });
    const before = snapshot(p.root);
    for (const args of [['all'], ['clean'], ['clean', '-n']]) {
      const r = await p.run(args);
      assert.is(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /^pipeline\.yaml:\d+:\d+ error: stage 'a': /m);
      assert.match(r.stderr, message);
      assert.match(r.stderr, /a recording's own files are never written or removed/);
    }
    assert.equal(snapshot(p.root), before);
  }));
}

test("a value from the recording's ephys-make.yaml that points an output at its marker: refused at run time, the others go on", timed(async () => {
  const p = makeProject({ recordings: ['r1', 'r2'], stages: `
  a:
    run: command
    command: ${fakeCommand('{name}/a', ['{marker}'], ['{target}'])}
    inputs: ["{marker}"]
    outputs: ["{target}"]
    params:
      x: { target: "{output}/a.out" }
` });
  writeFile(p.rec('r1'), 'ephys-make.yaml', `stages:\n  a:\n    params:\n      x: { target: "${p.rec('r1')}/probe.ap.bin" }\n`);
  const marker = path.join(p.rec('r1'), 'probe.ap.bin');
  const content = fs.readFileSync(marker, 'utf8');
  for (const args of [['all'], ['clean']]) {
    const r = await p.run(args);
    assert.is(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`^pipeline\\.yaml:\\d+:\\d+ error: recording r1: stage 'a' would write ${marker}, which is the recording's own file \\(its marker\\)`, 'm'));
    assert.is(fs.readFileSync(marker, 'utf8'), content);
  }
}));

test.run();
