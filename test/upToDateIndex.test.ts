/**
 * The up-to-date index: a no-op run over recordings unchanged since they were found up to date
 * stats their files and stops, and any change to a file a decision rests on still reruns.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { timed, tempDir, waitUntil, writeFile } from './rig.js';
import { fourStages, makeProject, type Project } from './project.js';
import { entryFor, indexPath } from '../lib/engine/upToDateIndex.js';
import { holds, witnessOf } from '../lib/engine/witness.js';
import { minBytesForWorker, startChecks, workerFile } from '../lib/engine/witnessChecks.js';

const unchanged = (n: number, of: number) => new RegExp(`^${n} of ${of} recordings unchanged since they were found up to date \\(\\.ephys-make/up-to-date\\.json\\)$`, 'm');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Built, then (files older than the index's two seconds) found up to date once, which writes the index. */
async function settled(p: Project, jobs: number): Promise<void> {
  assert.is((await p.run(['all'])).code, 0);
  await sleep(2100);
  const r = await p.run(['all']);
  assert.match(r.stdout, new RegExp(`^nothing to do: ${jobs} jobs up to date$`, 'm'));
  assert.ok(fs.existsSync(indexPath(path.join(p.dir, 'pipeline.yaml'))), 'index written');
}

test('a no-op answered by the index says so; an output changed by hand and a damaged record still rerun', timed(async () => {
  const p = makeProject();
  await settled(p, 12);
  const quiet = await p.run(['all', '--explain']);
  assert.match(quiet.stdout, unchanged(3, 3));
  assert.match(quiet.stdout, /^nothing to do: 12 jobs up to date$/m);
  assert.match((await p.run(['-n'])).stdout, /^nothing to do: 12 jobs up to date$/m);

  fs.appendFileSync(path.join(p.rec('rec2'), 'c.out'), 'edited\n');
  fs.writeFileSync(path.join(p.rec('rec3'), '.ephys-make', 'state.json'), '{"version":1,"jobs":{');
  const r = await p.run(['all', '--explain']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, unchanged(1, 3));
  assert.match(r.stdout, /^run rec2 c: output changed since the last run: c\.out$/m);
  assert.match(r.stdout, /^run rec3 a: record not trusted: /m);
  assert.is(p.starts('rec2/c'), 2);
  assert.is(p.starts('rec3/a'), 2);
  assert.is(p.starts('rec1/a'), 1);
}));

test('a new recording is planned beside the unchanged ones; an edited pipeline.yaml and a removed output are never vouched for', timed(async () => {
  const p = makeProject();
  await settled(p, 12);
  writeFile(p.root, 'rec4/probe.ap.bin', 'raw data of rec4\n');
  const added = await p.run(['all', '--explain']);
  assert.match(added.stdout, unchanged(3, 4));
  assert.is(p.starts('rec4/a'), 1);

  fs.rmSync(path.join(p.rec('rec1'), 'd.out'));
  const removed = await p.run(['-n', '--explain']);
  assert.match(removed.stdout, unchanged(2, 4));
  assert.match(removed.stdout, /^would run rec1 d: output missing: d\.out$/m);

  const yaml = path.join(p.dir, 'pipeline.yaml');
  fs.writeFileSync(yaml, fs.readFileSync(yaml, 'utf8').replace('threshold: 4', 'threshold: 5'));
  const edited = await p.run(['-n', '--explain']);
  assert.not.match(edited.stdout, /recordings unchanged since/);
  for (const rec of ['rec1', 'rec2', 'rec3', 'rec4']) assert.match(edited.stdout, new RegExp(`^would run ${rec} c: params changed: c_params\\.threshold 4 -> 5$`, 'm'));
}));

test('a recording added deep in a kept walk is found; so is one behind a linked folder (a walk with links is never kept)', timed(async () => {
  const p = makeProject({ recordings: ['m1/s1', 'm1/s2', 'm2/s5'] });
  await settled(p, 12);
  writeFile(p.root, 'm1/s3/probe.ap.bin', 'raw data of s3\n');
  const deep = await p.run(['-n', '--explain']);
  assert.match(deep.stdout, unchanged(3, 4));
  assert.match(deep.stdout, /^would run m1\/s3 a: output missing: a\.out$/m);

  const q = makeProject({ recordings: ['m1/s1'] });
  const elsewhere = path.join(q.dir, 'elsewhere');
  writeFile(elsewhere, 's9/probe.ap.bin', 'raw data of s9\n');
  fs.symlinkSync(elsewhere, path.join(q.root, 'linked'));
  await settled(q, 8);
  assert.match((await q.run(['-n', '--explain'])).stdout, unchanged(2, 2));
  writeFile(elsewhere, 's10/probe.ap.bin', 'raw data of s10\n');
  const linked = await q.run(['-n', '--explain']);
  assert.match(linked.stdout, unchanged(2, 3));
  assert.match(linked.stdout, /^would run linked\/s10 a: output missing: a\.out$/m);
}));

test('kill -9 of a run on a recording the index vouched for: the next plan says "last run interrupted"', timed(async () => {
  const p = makeProject({ recordings: ['r1', 'r2'], stages: fourStages({ bExtra: ['--wait-for', '{root}/../go'] }) });
  writeFile(p.dir, 'go', '');
  await settled(p, 8);
  fs.rmSync(path.join(p.dir, 'go'));
  const h = p.start(['b', '--force', 'b', '--dir', 'data/r1']);
  await waitUntil(() => p.starts('r1/b') === 2, 'the forced b to start');
  h.child.kill('SIGKILL');
  await h.done;
  const n = await p.run(['-n', '--explain']);
  assert.match(n.stdout, unchanged(1, 2));
  assert.match(n.stdout, /^would run r1 b: last run interrupted \(pid \d+ on .+\)$/m);
  assert.not.match(n.stdout, /r2 /);
  writeFile(p.dir, 'go', '');
  const r = await p.run(['all']);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.is(p.starts('r1/b'), 3);
}));

test('a damaged index is ignored and written anew, what a killed writer left removed; -n writes none', timed(async () => {
  const p = makeProject();
  assert.is((await p.run(['all'])).code, 0);
  await sleep(2100);
  const file = indexPath(path.join(p.dir, 'pipeline.yaml'));
  assert.match((await p.run(['-n'])).stdout, /^nothing to do: 12 jobs up to date$/m);
  assert.not.ok(fs.existsSync(file), '-n wrote an index');
  // What writers killed mid-write leave: removed once their process is gone, never a living one's.
  const dead = spawnSync('true').pid!;
  const leftover = `${file}.${dead}.0.partial`, living = `${file}.${process.pid}.7.partial`;
  writeFile(path.dirname(file), path.basename(leftover), 'half');
  writeFile(path.dirname(file), path.basename(living), 'half');
  assert.is((await p.run(['all'])).code, 0);
  assert.not.ok(fs.existsSync(leftover), 'partial of a dead writer kept');
  assert.ok(fs.existsSync(living), "a living writer's partial removed");
  // One entry's signature changed, its checksum not: the whole index is ignored.
  const text = fs.readFileSync(file, 'utf8');
  fs.writeFileSync(file, text.replace(/"c\.out","\d/, (m) => m.slice(0, -1) + (m.endsWith('9') ? '8' : '9')));
  const r = await p.run(['all', '--explain']);
  assert.is(r.code, 0);
  assert.not.match(r.stdout, /recordings unchanged since/);
  assert.match(r.stdout, /^nothing to do: 12 jobs up to date$/m);
  assert.match((await p.run(['all', '--explain'])).stdout, unchanged(3, 3));
  fs.writeFileSync(file, 'not an index');
  assert.match((await p.run(['all'])).stdout, /^nothing to do: 12 jobs up to date$/m);
}));

test('an entry keeps the signatures the plan saw, so a file changed since fails its first check; none from files under two seconds old', () => {
  const dir = tempDir();
  const rec = { name: 'r', dir, root: path.dirname(dir), marker: path.join(dir, 'm.bin'), output: dir };
  const a = writeFile(dir, 'a.out', 'a\n');
  const b = writeFile(dir, 'b.out', 'b\n');
  const old = (f: string) => fs.utimesSync(f, new Date(Date.now() - 10_000), new Date(Date.now() - 10_000));
  old(a);
  const before = witnessOf([a, path.join(dir, 'absent.yaml')]);
  const during = () => new Map([[b, witnessOf([b])[1]]]);
  assert.is(entryFor(rec, 2, before, during()), undefined, 'b was written just now');
  old(b);
  const entry = entryFor(rec, 2, before, during());
  assert.equal(entry?.files.filter((_, i) => i % 2 === 0), ['a.out', 'absent.yaml', 'b.out']);
  assert.ok(holds(entry!.files, dir));
  const seen = during();
  fs.appendFileSync(b, 'more\n');
  old(b);
  const stale = entryFor(rec, 2, before, seen);
  assert.not.ok(holds(stale!.files, dir), 'b changed after the plan saw it');
  writeFile(dir, 'absent.yaml', 'x: 1\n');
  old(path.join(dir, 'absent.yaml'));
  assert.not.ok(holds(entryFor(rec, 2, before, during())!.files, dir), 'a file that was not there now is');
});

test('many entries are checked on two threads, and each gets the answer its files give', () => {
  assert.ok(fs.existsSync(workerFile), workerFile);
  const dir = tempDir();
  const entries: Record<string, { files: string[] }> = {};
  for (let i = 0; i < 2000; i++) {
    const rec = path.join(dir, `r${i}`);
    writeFile(rec, 'out', `${i}\n`);
    entries[rec] = { files: witnessOf([path.join(rec, 'out'), path.join(rec, 'absent')]) };
  }
  // Entries as long as a real recording's (a dozen files), so that a second thread is worth it.
  let text = JSON.stringify(entries);
  const copies = Math.ceil((minBytesForWorker + 1) / text.length);
  for (const e of Object.values(entries)) e.files = Array.from({ length: copies }, () => e.files).flat();
  fs.appendFileSync(path.join(dir, 'r17', 'out'), 'changed\n');
  writeFile(dir, 'r1850/absent', 'now here\n');
  text = JSON.stringify(entries);
  const bytes = new Uint8Array(new SharedArrayBuffer(Buffer.byteLength(text)));
  bytes.set(Buffer.from(text));
  const dirs = Object.keys(entries);
  const checks = startChecks(bytes, 0);
  // This thread is busy (as it is finding recordings in a run) until the other one has begun.
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (let t = 0; t < 300 && checks.taken() === 0; t++) Atomics.wait(nap, 0, 0, 100);
  const { results, here } = checks.finish(JSON.parse(text), dirs);
  assert.ok(here < dirs.length, `the second thread checked none of ${dirs.length}`);
  const failed = dirs.filter((_, i) => results[i] !== 1).map((d) => path.basename(d));
  assert.equal(failed, ['r17', 'r1850']);
});

test.run();
