/** Finding recordings: the marker pattern, the recording folder, names, exclusions, --dir, outputs. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir, writeFile } from './rig.js';
import { parseYamlText } from '../lib/engine/yamlSource.js';
import { parsePipeline } from '../lib/engine/config.js';
import { discoverRecordings, markerDepth } from '../lib/engine/recordings.js';

function pipelineIn(dir: string, recordings: string) {
  const { source } = parseYamlText(path.join(dir, 'pipeline.yaml'), `version: 1\nrecordings:\n${recordings}\nstages:\n  a:\n    run: command\n    command: ["true"]\n    outputs: ["{output}/a.out"]\n`);
  const p = parsePipeline(source!);
  if (!p.ok) throw new Error(p.diagnostics.map((d) => d.message).join('\n'));
  return p.value;
}

/** A SpikeGLX run with two probes, an Open Ephys folder, and things that are not recordings. */
function lab(): string {
  const dir = tempDir();
  for (const probe of ['imec0', 'imec1']) {
    writeFile(dir, `data/SC048_g0/SC048_g0_${probe}/SC048_g0_t0.${probe}.ap.bin`, 'x');
    writeFile(dir, `data/SC048_g0/SC048_g0_${probe}/SC048_g0_t0.${probe}.ap.meta`, 'x');
  }
  writeFile(dir, 'data/old/SC001_g0/SC001_g0_imec0/SC001_g0_t0.imec0.ap.bin', 'x');
  writeFile(dir, 'data/SC048_g0/SC048_g0_imec0/.ephys-make/copy/x.ap.bin', 'x');
  writeFile(dir, 'data/node_modules/pkg/y.ap.bin', 'x');
  return dir;
}

test('the recording is the folder where the part of the pattern after its last **/ begins', () => {
  assert.is(markerDepth('**/*.ap.bin'), 1);
  assert.is(markerDepth('**/continuous/Neuropix-*-100.0/continuous.dat'), 3);
  assert.is(markerDepth('sessions/*.ap.bin'), 1);
});

test('SpikeGLX: one recording per probe folder, named from the root, sorted; ignored folders skipped', () => {
  const dir = lab();
  const p = pipelineIn(dir, '  root: ./data\n  match: "**/*.ap.bin"');
  const r = discoverRecordings(p);
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.value.map((x) => x.name), ['SC048_g0/SC048_g0_imec0', 'SC048_g0/SC048_g0_imec1', 'old/SC001_g0/SC001_g0_imec0']);
  const first = r.value[0];
  assert.is(first.dir, path.join(dir, 'data', 'SC048_g0', 'SC048_g0_imec0'));
  assert.is(first.marker, path.join(first.dir, 'SC048_g0_t0.imec0.ap.bin'));
  assert.is(first.output, first.dir, 'output defaults to the recording folder');
});

test('exclude patterns, an output template, and a root given on the command line', () => {
  const dir = lab();
  const p = pipelineIn(dir, '  root: ./elsewhere\n  match: "**/*.ap.bin"\n  exclude: ["old/**"]\n  output: "/sorted/{name}"');
  const r = discoverRecordings(p, { root: 'data', cwd: dir });
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.value.map((x) => x.name), ['SC048_g0/SC048_g0_imec0', 'SC048_g0/SC048_g0_imec1']);
  assert.is(r.value[1].output, '/sorted/SC048_g0/SC048_g0_imec1');
});

test('--dir: a recording folder, a folder of recordings, a glob, or a folder inside a recording', () => {
  const dir = lab();
  const p = pipelineIn(dir, '  root: ./data\n  match: "**/*.ap.bin"');
  const names = (dirs: string[]) => { const r = discoverRecordings(p, { dirs, cwd: dir }); return r.ok ? r.value.map((x) => x.name) : r.diagnostics.map((d) => d.message); };
  assert.equal(names(['data/SC048_g0/SC048_g0_imec1']), ['SC048_g0/SC048_g0_imec1']);
  assert.equal(names(['data/SC048_g0']), ['SC048_g0/SC048_g0_imec0', 'SC048_g0/SC048_g0_imec1']);
  assert.equal(names(['data/*/SC048_g0_imec0']), ['SC048_g0/SC048_g0_imec0']);
  fs.mkdirSync(path.join(dir, 'data/SC048_g0/SC048_g0_imec0/kilosort'));
  assert.equal(names(['data/SC048_g0/SC048_g0_imec0/kilosort']), ['SC048_g0/SC048_g0_imec0']);
  assert.equal(names(['data/nothing-here']), ['--dir data/nothing-here: no such folder']);
});

test('a recording folder reached through a symbolic link is found under the link', () => {
  const dir = lab();
  fs.mkdirSync(path.join(dir, 'more'));
  writeFile(dir, 'more/SC050_g0/SC050_g0_imec0/SC050_g0_t0.imec0.ap.bin', 'x');
  fs.symlinkSync(path.join(dir, 'more', 'SC050_g0'), path.join(dir, 'data', 'SC050_g0'));
  const p = pipelineIn(dir, '  root: ./data\n  match: "**/*.ap.bin"');
  const r = discoverRecordings(p);
  assert.ok(r.ok && r.value.some((x) => x.name === 'SC050_g0/SC050_g0_imec0'));
});

test('a root that does not exist is an error naming it and where it is set', () => {
  const dir = tempDir();
  const p = pipelineIn(dir, '  root: ./missing\n  match: "**/*.ap.bin"');
  const r = discoverRecordings(p);
  assert.not.ok(r.ok);
  if (!r.ok) assert.is(r.diagnostics[0].message, `recordings root ${path.join(dir, 'missing')} does not exist (set recordings.root in pipeline.yaml or pass --root)`);
});

test.run();
