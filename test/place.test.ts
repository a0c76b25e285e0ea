/**
 * A processed data set moved with its times kept (cp -a, tar): nothing whose content did not
 * change reruns, at a new root or the same one; a changed input reruns only what depends on it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { runCli, setMtime, tempDir, timed } from './rig.js';
import { makeProject, fourStages } from './project.js';

// Every input JSON holds the recording's own folder, as the Allen modules' do.
const head = 'resources: { gpu: 1 }\nparams:\n  shared: { sample_rate: 30000, output_dir: "{output}", raw: "{marker}" }';

function copyKeepingTimes(from: string, to: string): void {
  const r = spawnSync('cp', ['-a', from, to], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
}

test('cp -a of a processed tree to another folder: -n there says nothing to do; a changed input reruns only its downstream', timed(async () => {
  const p = makeProject({ recordings: ['r1', 'r2'], head });
  assert.is((await p.run(['all', '-j', '2'])).code, 0);
  const moved = path.join(tempDir(), 'new-drive');
  copyKeepingTimes(p.dir, moved);
  // Nothing may reach back to the old place: the original is gone, as after a move to a new server.
  fs.rmSync(p.dir, { recursive: true });
  const n = await runCli(['-n'], { cwd: moved });
  assert.is(n.code, 0, n.stdout + n.stderr);
  assert.match(n.stdout, /^nothing to do: 8 jobs up to date$/m);
  // A real run rewrites the records once (new paths, new inodes) and runs nothing.
  const r = await runCli(['all'], { cwd: moved });
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.is((r.stdout.match(/^update r[12] [abcd]: same files at a new place or time \(moved, copied with their times, or touched under --checksum\); record updated$/gm) ?? []).length, 8, r.stdout);
  assert.not.match(r.stdout, /^start /m);
  const again = await runCli(['all'], { cwd: moved });
  assert.match(again.stdout, /^nothing to do: 8 jobs up to date$/m);
  const state = fs.readFileSync(path.join(moved, 'data', 'r1', '.ephys-make', 'state.json'), 'utf8');
  assert.not.match(state, new RegExp(p.dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'the records name nothing of the old place');
  fs.appendFileSync(path.join(moved, 'data', 'r1', 'probe.ap.bin'), 'more samples\n');
  const changed = await runCli(['all'], { cwd: moved });
  assert.is(changed.code, 0, changed.stdout + changed.stderr);
  const started = changed.stdout.split('\n').filter((l) => l.startsWith('start ')).map((l) => l.split(' (')[0].replace(/^start +/, '')).sort();
  assert.equal(started, ['r1 a', 'r1 b', 'r1 c', 'r1 d']);
}));

test('restored in place with new inodes (same paths): nothing reruns', timed(async () => {
  const p = makeProject({ recordings: ['r1'], head });
  assert.is((await p.run(['all'])).code, 0);
  const backup = path.join(tempDir(), 'backup');
  copyKeepingTimes(p.dir, backup);
  fs.rmSync(p.dir, { recursive: true });
  copyKeepingTimes(backup, p.dir);
  assert.match((await p.run(['-n'])).stdout, /^nothing to do: 4 jobs up to date$/m);
}));

test('at a new place, a file changed behind a kept time is caught where the record holds its content hash', timed(async () => {
  const p = makeProject({ recordings: ['r1'], head });
  assert.is((await p.run(['all', '--checksum'])).code, 0);
  const moved = path.join(tempDir(), 'moved');
  copyKeepingTimes(p.dir, moved);
  const raw = path.join(moved, 'data', 'r1', 'probe.ap.bin');
  fs.writeFileSync(raw, fs.readFileSync(raw, 'utf8').replace('raw', 'RAW'));
  // Back to the original's time to the nanosecond, as a careless copy-over-with-times would.
  assert.is(spawnSync('touch', ['-r', path.join(p.rec('r1'), 'probe.ap.bin'), raw]).status, 0);
  assert.is(fs.statSync(raw, { bigint: true }).mtimeNs, fs.statSync(path.join(p.rec('r1'), 'probe.ap.bin'), { bigint: true }).mtimeNs);
  const n = await runCli(['-n'], { cwd: moved });
  assert.match(n.stdout, /^would run r1 a: input changed: probe\.ap\.bin \(content differs\)$/m);
}));

test('switching --checksum on or off reruns nothing; records of either kind keep working', timed(async () => {
  const p = makeProject({ recordings: ['r1'], head });
  assert.is((await p.run(['all'])).code, 0);
  assert.match((await p.run(['-n', '--checksum'])).stdout, /^nothing to do: 4 jobs up to date$/m);
  assert.match((await p.run(['all', '--checksum', '-B'])).stdout, /4 jobs done/);
  assert.match((await p.run(['-n'])).stdout, /^nothing to do: 4 jobs up to date$/m);
  // A record made by --checksum is compared by content when a time changes, with or without it;
  // a real run then updates the record, so the file is not read again.
  setMtime(path.join(p.rec('r1'), 'probe.ap.bin'), 2_000_000_000);
  assert.match((await p.run(['-n'])).stdout, /^nothing to do: 4 jobs up to date$/m);
  const r = await p.run(['all']);
  assert.match(r.stdout, /^update r1 a: /m);
  assert.not.match(r.stdout, /^start /m);
  assert.match((await p.run(['all'])).stdout, /^nothing to do: 4 jobs up to date$/m);
  fs.writeFileSync(path.join(p.rec('r1'), 'probe.ap.bin'), 'other content\n');
  assert.match((await p.run(['-n'])).stdout, /^would run r1 a: input changed: probe\.ap\.bin \(size 15 B -> 14 B\)$/m);
}));

test('records from before both signatures were kept (content hash only) still compare by content', timed(async () => {
  const p = makeProject({ recordings: ['r1'], head });
  assert.is((await p.run(['all', '--checksum'])).code, 0);
  const stateFile = path.join(p.rec('r1'), '.ephys-make', 'state.json');
  const state = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
  for (const rec of Object.values<any>(state.jobs)) {
    for (const m of [rec.inputs, rec.outputs]) for (const k of Object.keys(m)) m[k] = m[k].split('|')[1];
  }
  fs.writeFileSync(stateFile, JSON.stringify(state));
  assert.match((await p.run(['-n'])).stdout, /^nothing to do: 4 jobs up to date$/m);
  assert.match((await p.run(['-n', '--checksum'])).stdout, /^nothing to do: 4 jobs up to date$/m);
  const raw = path.join(p.rec('r1'), 'probe.ap.bin');
  fs.writeFileSync(raw, fs.readFileSync(raw, 'utf8').replace('raw', 'RAW'));
  assert.match((await p.run(['-n'])).stdout, /^would run r1 a: input changed: probe\.ap\.bin \(content differs\)$/m);
}));

test.run();
