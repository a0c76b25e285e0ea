/** A job's input JSON: layers, placeholders, schema defaults and schema errors named by JSON pointer. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { timed, writeFile } from './rig.js';
import { makeProject, fakeCommand } from './project.js';
import { firstDifference, stableStringify, makeLookup, deepMerge } from '../lib/engine/inputJson.js';

const schema = {
  $id: 'https://example.org/metrics.schema.json',
  type: 'object',
  properties: {
    ephys_params: { type: 'object', default: {}, properties: { sample_rate: { type: 'number', default: 30000 } } },
    metrics_params: {
      type: 'object', default: {}, additionalProperties: false,
      properties: { isi_threshold: { type: 'number', default: 0.0015 }, out: { type: 'string' } },
      required: ['out'],
    },
  },
};

function metricsProject(params: string) {
  const stages = `
  metrics:
    run: command
    command: ${fakeCommand('{name}/m', ['{input_json}'], ['{output}/metrics.csv'])}
    schema: ./metrics.schema.json
    inputs: ["{marker}"]
    outputs: ["{output}/metrics.csv"]
    params:
${params}`;
  const p = makeProject({ recordings: ['r1'], stages, head: 'params:\n  ephys_params: { sample_rate: 30000.0, ap_band_file: "{marker}" }\n  unrelated: { x: 1 }' });
  writeFile(p.dir, 'metrics.schema.json', JSON.stringify(schema));
  return p;
}

test('an input JSON that violates its stage schema fails before running, naming the JSON pointer', timed(async () => {
  const p = metricsProject('      metrics_params: { isi_treshold: 0.002, out: "{output}/metrics.csv" }');
  const r = await p.run(['all']);
  assert.is(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /^pipeline\.yaml:\d+:\d+ error: unknown key 'isi_treshold' in input JSON of 'metrics' \(r1\) at \/metrics_params \(did you mean 'isi_threshold'\?\); valid keys: isi_threshold, out$/m);
  assert.match(r.stderr, /note: schema: .*metrics\.schema\.json/);
  assert.is(p.starts(), 0);
  const t = metricsProject('      metrics_params: { isi_threshold: "fast", out: "{output}/metrics.csv" }');
  const r2 = await t.run(['all']);
  assert.is(r2.code, 2);
  assert.match(r2.stderr, /error: input JSON of 'metrics' \(r1\) at \/metrics_params\/isi_threshold must be number, not the string "fast"/);
  const m = metricsProject('      metrics_params: { isi_threshold: 0.001 }');
  assert.match((await m.run(['all'])).stderr, /input JSON of 'metrics' \(r1\) at \/metrics_params is missing required key 'out'/);
}));

test('the written input JSON holds only the sections the schema reads, defaults filled, placeholders filled', timed(async () => {
  const p = metricsProject('      metrics_params: { out: "{output}/metrics.csv" }');
  const r = await p.run(['all']);
  assert.is(r.code, 0, r.stdout + r.stderr);
  const json = JSON.parse(fs.readFileSync(path.join(p.rec('r1'), '.ephys-make', 'metrics', 'input.json'), 'utf8'));
  assert.equal(json, {
    ephys_params: { sample_rate: 30000, ap_band_file: path.join(p.rec('r1'), 'probe.ap.bin') },
    metrics_params: { out: path.join(p.rec('r1'), 'metrics.csv'), isi_threshold: 0.0015 },
  });
  // `unrelated` is not a section the stage reads: changing it reruns nothing.
  const n = await p.run(['-n', '--set', 'params.unrelated.x=2']);
  assert.match(n.stdout, /^nothing to do: 1 jobs up to date$/m);
}));

test('a recording ephys-make.yaml overrides pipeline values; a bad one is a config error with its file', timed(async () => {
  const p = metricsProject('      metrics_params: { out: "{output}/metrics.csv" }');
  writeFile(p.rec('r1'), 'ephys-make.yaml', 'params:\n  ephys_params: { sample_rate: 29999.5 }\nstages:\n  metrics:\n    params:\n      metrics_params: { isi_threshold: 0.002 }\n');
  assert.is((await p.run(['all'])).code, 0);
  const json = JSON.parse(fs.readFileSync(path.join(p.rec('r1'), '.ephys-make', 'metrics', 'input.json'), 'utf8'));
  assert.is(json.ephys_params.sample_rate, 29999.5);
  assert.is(json.metrics_params.isi_threshold, 0.002);
  const n = await p.run(['-n', '--set', 'metrics.metrics_params.isi_threshold=0.003']);
  assert.match(n.stdout, /^would run r1 metrics: params changed: metrics_params\.isi_threshold 0\.002 -> 0\.003 \(from --set metrics\.metrics_params\.isi_threshold=0\.003\)$/m);
  // A value the recording brings says where it came from.
  fs.rmSync(path.join(p.rec('r1'), 'ephys-make.yaml'));
  assert.is((await p.run(['all'])).code, 0);
  writeFile(p.rec('r1'), 'ephys-make.yaml', 'params:\n  ephys_params: { sample_rate: 25000 }\n');
  const src = await p.run(['-n']);
  assert.match(src.stdout, /^would run r1 metrics: params changed: ephys_params\.sample_rate 30000 -> 25000 \(from ephys-make\.yaml\)$/m);
  writeFile(p.rec('r1'), 'ephys-make.yaml', 'stages:\n  metrcs: {}\n');
  const bad = await p.run(['all']);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /data\/r1\/ephys-make\.yaml:2:3 error: unknown stage 'metrcs' in ephys-make\.yaml; stages: metrics/);
}));

test('firstDifference names the first differing leaf in sorted key order', () => {
  assert.equal(firstDifference({ a: { x: 1, y: 2 } }, { a: { x: 1, y: 3 } }), { key: 'a.y', before: 2, after: 3 });
  assert.equal(firstDifference({ a: 1 }, { a: 1, b: { c: [1] } }), { key: 'b.c', before: undefined, after: [1] });
  assert.is(firstDifference({ a: [1, 2] }, { a: [1, 2] }), undefined);
});

test('stableStringify ignores key order; lookup finds paths and unique leaves', () => {
  assert.is(stableStringify({ b: 1, a: { d: 2, c: 3 } }), stableStringify({ a: { c: 3, d: 2 }, b: 1 }));
  const look = makeLookup({ output: '/o' }, { ephys_params: { ap_band_file: '/x.bin', num_channels: 384 }, other: { num_channels: 10 } });
  assert.is(look('output'), '/o');
  assert.is(look('ap_band_file'), '/x.bin');
  assert.is(look('num_channels'), undefined, 'ambiguous leaf');
  assert.is(look('other.num_channels'), '10');
  assert.equal(deepMerge({ a: { x: 1, y: 2 } }, { a: { y: 3 } }), { a: { x: 1, y: 3 } });
});

test.run();
