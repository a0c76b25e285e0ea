/**
 * Records (state.json) that cannot be trusted never make an output look finished: damaged, deleted,
 * newer, or holding a status ephys-make never writes. A job killed mid-write is recognised by its
 * running marker and leftover `*.partial` files even with no state.json at all.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { timed, waitUntil, writeFile } from './rig.js';
import { makeProject, fourStages, type Project } from './project.js';

function groupAlive(pgid: number): boolean {
  try { process.kill(-pgid, 0); return true; } catch { return false; }
}

/** What the fake stages write when they finish: the label, then their inputs. */
function expected(p: Project, rec: string, stage: 'a' | 'b' | 'd'): string {
  const raw = fs.readFileSync(path.join(p.rec(rec), 'probe.ap.bin'), 'utf8');
  const a = `${rec}/a\n${raw}`;
  return stage === 'a' ? a : `${rec}/${stage}\n${a}`;
}

/** Run until b has written half of b.out, then kill -9 ephys-make and b (a power cut). */
async function killedMidWrite(): Promise<Project> {
  const p = makeProject({ recordings: ['r1'], stages: fourStages({ bExtra: ['--half-then-wait', '{root}/../go'] }) });
  const h = p.start(['all']);
  await waitUntil(() => p.calls().some((l) => l.event === 'half' && l.label === 'r1/b'), 'b to write half of b.out');
  const b = p.calls().find((l) => l.label === 'r1/b')!.pid;
  h.child.kill('SIGKILL');
  await h.done;
  process.kill(-b, 'SIGKILL');
  await waitUntil(() => !groupAlive(b), 'b to die');
  writeFile(p.dir, 'go', '');
  const half = fs.readFileSync(path.join(p.rec('r1'), 'b.out'), 'utf8');
  assert.ok(half.length > 0 && half.length < expected(p, 'r1', 'b').length, 'b.out is half-written');
  return p;
}

const stateFile = (p: Project) => path.join(p.rec('r1'), '.ephys-make', 'state.json');
const asideFiles = (p: Project) => fs.readdirSync(path.join(p.rec('r1'), '.ephys-make')).filter((n) => n.startsWith('state.json.damaged-'));

const damages: Array<[string, (file: string) => void, RegExp]> = [
  ['emptied', (f) => fs.writeFileSync(f, ''), /record not trusted: \S+state\.json is empty/],
  ['truncated', (f) => fs.writeFileSync(f, fs.readFileSync(f, 'utf8').slice(0, 60)), /record not trusted: \S+state\.json is truncated or not JSON/],
  ['garbage', (f) => fs.writeFileSync(f, Buffer.from([0x7b, 0x00, 0xff, 0x13, 0x37, 0x7d])), /record not trusted: \S+state\.json is not valid JSON/],
  ['a directory', (f) => { fs.rmSync(f); fs.mkdirSync(f); fs.writeFileSync(path.join(f, 'x'), 'x'); }, /record not trusted: \S+state\.json is a directory/],
];

for (const [what, damage, reason] of damages) {
  test(`a job killed mid-write, then state.json ${what}: nothing is adopted, the file is kept aside with one warning, the job reruns`, timed(async () => {
    const p = await killedMidWrite();
    damage(stateFile(p));
    const n = await p.run(['-n']);
    assert.is(n.code, 0, n.stdout + n.stderr);
    for (const s of ['a', 'b', 'c', 'd']) assert.match(n.stdout, new RegExp(`^would run r1 ${s}: ${reason.source}`, 'm'));
    assert.not.match(n.stdout + n.stderr, /^adopt /m);
    const r = await p.run(['all']);
    assert.is(r.code, 0, r.stdout + r.stderr);
    const warnings = (r.stdout + r.stderr).split('\n').filter((l) => l.startsWith('warning: '));
    assert.is(warnings.length, 1, r.stdout + r.stderr);
    assert.match(warnings[0], /^warning: \S+\/r1\/\.ephys-make\/state\.json .+: kept as state\.json\.damaged-\d{8}T\d{6}Z; the recording's jobs run again \(none is adopted\)$/);
    assert.not.match(r.stdout, /^adopt /m);
    assert.is(asideFiles(p).length, 1, 'the damaged file is kept, not deleted');
    assert.is(fs.readFileSync(path.join(p.rec('r1'), 'b.out'), 'utf8'), expected(p, 'r1', 'b'));
    assert.match((await p.run(['-n'])).stdout, /^nothing to do: 4 jobs up to date$/m);
  }));
}

test('a job killed mid-write, then state.json deleted: its running marker refuses adoption; finished jobs are adopted', timed(async () => {
  const p = await killedMidWrite();
  fs.rmSync(stateFile(p));
  const n = await p.run(['-n']);
  assert.is(n.code, 0, n.stdout + n.stderr);
  assert.match(n.stdout, /^would run r1 b: last run interrupted \(pid \d+ on \S+\): no record, but its running marker \.ephys-make\/b\/running is there$/m);
  assert.match(n.stdout, /^would run r1 c: output missing: c\.out$/m);
  assert.not.match(n.stdout, /would run r1 a:/);
  const r = await p.run(['all']);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^adopt  r1 a: /m);
  assert.not.match(r.stdout, /^adopt  r1 b/m);
  assert.is(fs.readFileSync(path.join(p.rec('r1'), 'b.out'), 'utf8'), expected(p, 'r1', 'b'));
  assert.not.ok(fs.existsSync(path.join(p.rec('r1'), '.ephys-make', 'b', 'running')), 'the marker goes once b is done');
  assert.match((await p.run(['-n'])).stdout, /^nothing to do: 4 jobs up to date$/m);
}));

test('a job killed mid-write, then a state.json of a newer version: neither read nor overwritten, and says so', timed(async () => {
  const p = await killedMidWrite();
  const newer = '{"version":2,"jobs":{"b":{"status":"done","future":true}}}\n';
  fs.writeFileSync(stateFile(p), newer);
  const n = await p.run(['-n']);
  assert.is(n.code, 1, n.stdout + n.stderr);
  assert.match(n.stdout, /^cannot run r1 b: \S+\/r1\/\.ephys-make\/state\.json was written by a newer ephys-make \(state version 2; this one writes version 1\): not read and not overwritten; run the newer ephys-make, or move the file away to rerun this recording's jobs$/m);
  const r = await p.run(['all', '-k']);
  assert.is(r.code, 1, r.stdout + r.stderr);
  assert.is(fs.readFileSync(stateFile(p), 'utf8'), newer);
  assert.is(p.starts('r1/b'), 1, 'b did not run again');
  assert.not.match(r.stdout, /^adopt /m);
  // Moved away by hand: every job of the recording runs again, nothing adopted.
  fs.renameSync(stateFile(p), `${stateFile(p)}.from-v2`);
  const again = await p.run(['all']);
  assert.is(again.code, 0, again.stdout + again.stderr);
  assert.is(fs.readFileSync(path.join(p.rec('r1'), 'b.out'), 'utf8'), expected(p, 'r1', 'b'));
}));

test('a newer state.json holds back only its own recording (with -k)', timed(async () => {
  const p = makeProject({ recordings: ['r1', 'r2'] });
  assert.is((await p.run(['all'])).code, 0);
  fs.writeFileSync(stateFile(p), '{"version":2,"jobs":{}}\n');
  const r = await p.run(['all', '-B', '-k']);
  assert.is(r.code, 1, r.stdout + r.stderr);
  assert.is(p.starts('r1/a'), 1, 'nothing of r1 ran again');
  assert.is(p.starts('r2/a'), 2, 'r2 is not held back');
}));

test('a record with a status ephys-make never writes is not up to date', timed(async () => {
  const p = makeProject({ recordings: ['r1'] });
  assert.is((await p.run(['all'])).code, 0);
  const state = JSON.parse(fs.readFileSync(stateFile(p), 'utf8'));
  state.jobs.b.status = 'zombie';
  state.jobs.d = 'not an object';
  fs.writeFileSync(stateFile(p), JSON.stringify(state));
  const n = await p.run(['-n']);
  assert.match(n.stdout, /^would run r1 b: record not trusted: \S+state\.json holds a record of b that has an unknown status "zombie"$/m);
  assert.match(n.stdout, /^would run r1 d: record not trusted: \S+state\.json holds a record of d that is not an object$/m);
  assert.match(n.stdout, /^would run r1 c: upstream reran: b$/m);
  assert.is((await p.run(['all'])).code, 0);
  assert.match((await p.run(['-n'])).stdout, /^nothing to do: 4 jobs up to date$/m);
}));

test('outputs made by hand beside a leftover *.partial are not adopted; the partial is removed, nothing else', timed(async () => {
  const p = makeProject({ recordings: ['r1'] });
  for (const s of ['a', 'b', 'c', 'd']) writeFile(p.rec('r1'), `${s}.out`, `made by hand ${s}\n`);
  writeFile(p.rec('r1'), 'b.out.4242.0.partial', 'half');
  writeFile(p.rec('r1'), 'notes.partial', 'the lab\'s own file');
  writeFile(p.rec('r1'), 'b.out.partial', 'not a name ephys-make makes');
  const n = await p.run(['-n']);
  assert.match(n.stdout, /^would run r1 a: last run interrupted: no record, but b\.out\.4242\.0\.partial is there \(a half-written file\)$/m);
  const r = await p.run(['all']);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.not.ok(fs.existsSync(path.join(p.rec('r1'), 'b.out.4242.0.partial')));
  assert.is(fs.readFileSync(path.join(p.rec('r1'), 'notes.partial'), 'utf8'), 'the lab\'s own file');
  assert.ok(fs.existsSync(path.join(p.rec('r1'), 'b.out.partial')));
  assert.is(fs.readFileSync(path.join(p.rec('r1'), 'b.out'), 'utf8'), expected(p, 'r1', 'b'));
}));

test('outputs made before ephys-make, with no record and nothing left behind, are still adopted', timed(async () => {
  const p = makeProject({ recordings: ['r1'] });
  for (const s of ['a', 'b', 'c', 'd']) writeFile(p.rec('r1'), `${s}.out`, `made by hand ${s}\n`);
  const r = await p.run(['all']);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.is((r.stdout.match(/^adopt  r1 [abcd]: outputs newer than inputs; record written$/gm) ?? []).length, 4, r.stdout);
  assert.is(p.starts(), 0);
}));

test.run();
