/**
 * A recording copied in and not complete yet (its .ap.bin shorter than the .meta's fileSizeBytes)
 * is never processed: a run reports it and goes on with the others; a watch waits for the file to
 * be complete, then takes it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { startCli, tempDir, timed, writeFile } from './rig.js';
import { spikeGlxMeta } from '../lib/synth/spikeglx.js';

const rowBytes = 9 * 2;
const samples = 1000;

function project(): { dir: string; bin: (name: string) => string } {
  const dir = tempDir();
  writeFile(dir, 'pipeline.yaml', `version: 1
recordings:
  root: ./data
  match: "**/*.ap.bin"
  ready: { settle_seconds: 0.3, when: "*.ap.meta" }
stages:
  a:
    run: command
    command: ["cp", "{marker}", "{output}/a.out"]
    inputs: ["{marker}"]
    outputs: ["{output}/a.out"]
`);
  const bin = (name: string) => path.join(dir, 'data', name, `${name}_t0.imec0.ap.bin`);
  for (const name of ['g1', 'g2']) {
    writeFile(dir, `data/${name}/${name}_t0.imec0.ap.meta`, spikeGlxMeta({ band: 'ap', channels: 8, sampleRateHz: 30000, fileSizeBytes: samples * rowBytes, fileName: `${name}.ap.bin`, serial: 1, createTime: '2024-01-15T10:00:00', notes: 'test' }));
  }
  writeFile(dir, 'data/g1/g1_t0.imec0.ap.bin', new Uint8Array((samples / 2) * rowBytes));
  writeFile(dir, 'data/g2/g2_t0.imec0.ap.bin', new Uint8Array(samples * rowBytes));
  return { dir, bin };
}

test('a run skips the incomplete copy with its reason and processes the others (exit 2)', timed(async () => {
  const p = project();
  const r = await startCli(['all'], { cwd: p.dir }).done;
  assert.is(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /^data\/g1\/g1_t0\.imec0\.ap\.meta:\d+:15 error: g1_t0\.imec0\.ap\.bin is 9000 bytes but its \.meta says fileSizeBytes=18000: an incomplete copy\? recording g1 is not processed until the file is complete$/m);
  assert.match(r.stderr, /^ephys-make: 1 of 2 recordings not processed \(errors above\): g1$/m);
  assert.match(r.stdout, /^done   g2 a /m);
  assert.not.ok(fs.existsSync(path.join(p.dir, 'data/g1/a.out')));
}));

test('a watch waits for the copy to complete, then processes it', timed(async () => {
  const p = project();
  const w = startCli(['watch'], { cwd: p.dir });
  try {
    await w.waitForOutput(/^done   g2 a /m);
    assert.match(w.output(), /g1: cannot plan:\n.*an incomplete copy\? recording g1 is not processed until the file is complete/);
    assert.not.ok(fs.existsSync(path.join(p.dir, 'data/g1/a.out')));
    // The rest of the copy lands.
    fs.appendFileSync(p.bin('g1'), new Uint8Array((samples / 2) * rowBytes));
    await w.waitForOutput(/^done   g1 a /m);
    assert.is(fs.statSync(path.join(p.dir, 'data/g1/a.out')).size, samples * rowBytes);
  } finally {
    w.child.kill('SIGTERM');
    await w.done;
  }
}));

test.run();
