/** Parallel jobs, machine-wide pools and per-recording locks, across processes. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { timed, waitUntil, readStageLog, writeFile } from './rig.js';
import { makeProject, fourStages } from './project.js';

type Line = ReturnType<typeof readStageLog>[number];
function intervals(lines: Line[], match: (label: string) => boolean) {
  const out: Array<{ label: string; start: number; end: number; cuda: string }> = [];
  for (const s of lines.filter((l) => l.event === 'start' && match(l.label))) {
    const e = lines.find((l) => l.event === 'end' && l.pid === s.pid);
    out.push({ label: s.label, start: s.ms, end: e ? e.ms : Infinity, cuda: s.cuda });
  }
  return out;
}
function overlaps(a: { start: number; end: number }, b: { start: number; end: number }) {
  return a.start < b.end && b.start < a.end;
}
// Jobs given `--wait-for {root}/../go` hold on until the test writes the go file, so overlap is
// seen happening rather than hoped for from how long a job sleeps.
const waitForGo = ['--wait-for', '{root}/../go'];

test('two `ephys-make all` at once on one root: no job runs twice, the second names the lock holder', timed(async () => {
  const p = makeProject({ recordings: ['r1', 'r2', 'r3'], stages: fourStages({ bExtra: waitForGo }) });
  const first = p.start(['all', '-j', '2']);
  await waitUntil(() => p.starts() >= 1, 'the first run to start a job');
  const second = p.start(['all', '-j', '2']);
  await second.waitForOutput(/locked r\d: held by pid \d+ on \S+ since \S+ \(ephys-make all -j 2\); waiting for it/);
  writeFile(p.dir, 'go', '');
  const [r1, r2] = await Promise.all([first.done, second.done]);
  assert.is(r1.code, 0, r1.stdout + r1.stderr);
  assert.is(r2.code, 0, r2.stdout + r2.stderr);
  const lines = p.calls();
  for (const label of new Set(lines.map((l) => l.label))) {
    assert.is(lines.filter((l) => l.event === 'start' && l.label === label).length, 1, `${label} ran once`);
  }
  assert.is(p.starts(), 12);
}));

test('-j 4 with gpu: 1: never two gpu jobs at once, other jobs alongside; CUDA_VISIBLE_DEVICES given', timed(async () => {
  const p = makeProject({ recordings: ['r1', 'r2', 'r3', 'r4'], stages: fourStages({ bResources: '{ gpu: 1 }', bExtra: waitForGo }) });
  const run = p.start(['all', '-j', '4']);
  // The gpu job holds the pool until the go file appears: a CPU job must start and finish meanwhile.
  await waitUntil(() => {
    const lines = p.calls();
    const gpu = intervals(lines, (l) => l.endsWith('/b'));
    return intervals(lines, (l) => !l.endsWith('/b')).some((o) => o.end !== Infinity && gpu.some((g) => overlaps(o, g)));
  }, 'a CPU job to run while a gpu job holds the pool');
  assert.is(intervals(p.calls(), (l) => l.endsWith('/b')).length, 1, 'one gpu job at a time');
  writeFile(p.dir, 'go', '');
  const r = await run.done;
  assert.is(r.code, 0, r.stdout + r.stderr);
  const lines = p.calls();
  const gpu = intervals(lines, (l) => l.endsWith('/b'));
  assert.is(gpu.length, 4);
  for (let i = 0; i < gpu.length; i++) for (let j = i + 1; j < gpu.length; j++) assert.not.ok(overlaps(gpu[i], gpu[j]), `${gpu[i].label} overlaps ${gpu[j].label}`);
  for (const g of gpu) assert.is(g.cuda, '0');
}));

test('two processes on different roots share one gpu: 1 pool', timed(async () => {
  const stages = fourStages({ bResources: '{ gpu: 1 }', bExtra: ['--sleep-ms', '300'] });
  const p = makeProject({ recordings: ['p1', 'p2'], stages });
  const q = makeProject({ recordings: ['q1', 'q2'], stages });
  const [a, b] = await Promise.all([p.run(['all', '-j', '2']), q.run(['all', '-j', '2'])]);
  assert.is(a.code, 0, a.stdout + a.stderr);
  assert.is(b.code, 0, b.stdout + b.stderr);
  const gpu = [...intervals(p.calls(), (l) => l.endsWith('/b')), ...intervals(q.calls(), (l) => l.endsWith('/b'))];
  assert.is(gpu.length, 4);
  for (let i = 0; i < gpu.length; i++) for (let j = i + 1; j < gpu.length; j++) assert.not.ok(overlaps(gpu[i], gpu[j]), `${gpu[i].label} overlaps ${gpu[j].label}`);
}));

test('two gpu slots: two gpu jobs at once, each with its own card', timed(async () => {
  const p = makeProject({ recordings: ['r1', 'r2'], head: 'resources: { gpu: 2 }', stages: fourStages({ bResources: '{ gpu: 1 }', bExtra: waitForGo }) });
  const run = p.start(['all', '-j', '4']);
  // Neither gpu job can finish before the go file: both started means both hold a card at once.
  await waitUntil(() => p.starts('r1/b') === 1 && p.starts('r2/b') === 1, 'both gpu jobs to start');
  writeFile(p.dir, 'go', '');
  const r = await run.done;
  assert.is(r.code, 0, r.stdout + r.stderr);
  const gpu = intervals(p.calls(), (l) => l.endsWith('/b'));
  assert.equal(gpu.map((g) => g.cuda).sort(), ['0', '1']);
  assert.ok(overlaps(gpu[0], gpu[1]));
}));

test.run();
