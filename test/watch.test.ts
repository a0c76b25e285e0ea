/** `ephys-make watch`: real chokidar on real temp folders, the real CLI, fake stages. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { timed, waitUntil, writeFile, setMtime, readStageLog } from './rig.js';
import { makeProject, fourStages, fakeCommand, type Project } from './project.js';

type Line = ReturnType<typeof readStageLog>[number];

/** `recordings:` keys for the pipeline head (the project puts them under recordings). */
function head(ready: string, extra = ''): string {
  return `  ready: ${ready}\n  layout: none\nresources: { gpu: 1 }${extra}`;
}

function ended(p: Project, label: string): boolean {
  return p.calls().some((l) => l.event === 'end' && l.label === label);
}

/** Every job of these recordings (stages a-d) has ended once. */
function allEnded(p: Project, recs: string[]): boolean {
  return recs.every((r) => ['a', 'b', 'c', 'd'].every((s) => ended(p, `${r}/${s}`)));
}

function assertEachRanOnce(lines: Line[]): void {
  const labels = new Set(lines.map((l) => l.label));
  for (const label of labels) assert.is(lines.filter((l) => l.event === 'start' && l.label === label).length, 1, `${label} ran once`);
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** waitUntil, with the watch's output in the failure. */
async function until(h: ReturnType<Project['start']>, check: () => boolean, what: string, ms = 30_000): Promise<void> {
  try {
    await waitUntil(check, what, ms);
  } catch (err: any) {
    throw new Error(`${err.message}; the watch said:\n${h.output()}`);
  }
}

/** Watches still running when a test fails are killed, so the file does not wait for them. */
const started: Array<ReturnType<Project['start']>> = [];
function watchIn(p: Project, args: string[]): ReturnType<Project['start']> {
  const h = p.start(args);
  started.push(h);
  return h;
}
test.after.each(() => {
  for (const h of started.splice(0)) if (h.child.exitCode === null && h.child.signalCode === null) h.child.kill('SIGKILL');
});

async function stop(h: ReturnType<Project['start']>): Promise<void> {
  h.child.kill('SIGINT');
  const r = await h.done;
  assert.is(r.code, 130, r.stdout + r.stderr);
}

test('a recording written in chunks starts only once settled; one with its `when` file starts at once', timed(async () => {
  // `slow` and `copied` are written in chunks; `copied` got its .meta first (a copy in the wrong
  // order), which does not vouch for it. `fast` is written the same way, then closed with its .meta.
  // Chunks come 0.4 s apart, well inside the 3 s settle time even on a busy machine; what is
  // checked is the order of writes and starts as the files and the stage log record them.
  const p = makeProject({ recordings: [], head: head('{ settle_seconds: 3, when: "*.ap.meta" }') });
  const h = watchIn(p, ['watch', '-j', '2']);
  await h.waitForOutput(/^watching /m);
  for (const r of ['slow', 'copied', 'fast']) fs.mkdirSync(path.join(p.root, r));
  writeFile(p.root, 'copied/probe.ap.meta', 'fileSizeBytes=7000\n');
  const lastWrite = new Map<string, number>();
  for (let i = 0; i < 7; i++) {
    for (const r of ['slow', 'copied', 'fast']) {
      const file = path.join(p.root, r, 'probe.ap.bin');
      fs.appendFileSync(file, `chunk ${i}\n`.repeat(1000));
      lastWrite.set(r, fs.statSync(file).mtimeMs);
    }
    await new Promise((r) => setTimeout(r, 400));
  }
  writeFile(p.root, 'fast/probe.ap.meta', 'fileSizeBytes=4\n');
  await until(h, () => p.starts('fast/a') === 1 && p.starts('slow/a') === 1 && p.starts('copied/a') === 1, 'the recordings to start');
  const startOf = (label: string) => p.calls().find((l) => l.event === 'start' && l.label === label)!.ms;
  for (const r of ['slow', 'copied']) {
    const last = lastWrite.get(r)!;
    assert.ok(startOf(`${r}/a`) >= last + 3000, `${r} started ${startOf(`${r}/a`) - last} ms after its last write`);
  }
  assert.ok(startOf('fast/a') > lastWrite.get('fast')!, 'fast started after its last write');
  assert.match(h.output(), /^ready  fast: probe\.ap\.meta is there$/m);
  assert.match(h.output(), /^settle slow: probe\.ap\.bin is being written \(changed [\d.]+ s ago\); starts once unchanged for 3 s or when \*\.ap\.meta appears$/m);
  assert.match(h.output(), /^ready  slow: unchanged for 3 s$/m);
  await until(h, () => allEnded(p, ['slow', 'fast', 'copied']), 'the recordings to finish');
  await stop(h);
}));

test('five recordings added while one runs: all processed, each job once; events logged as JSON lines', timed(async () => {
  const p = makeProject({ recordings: ['r0'], head: head('{ settle_seconds: 0.3 }'), stages: fourStages({ bExtra: ['--wait-for', '{root}/../go'] }) });
  const h = watchIn(p, ['watch', '-j', '2']);
  await until(h, () => p.starts('r0/b') === 1, 'r0 b to run');
  for (let i = 1; i <= 5; i++) writeFile(p.root, `r${i}/probe.ap.bin`, `raw ${i}\n`);
  await h.waitForOutput(/^queue  r5: 4 jobs to run/m);
  writeFile(p.dir, 'go', '');
  const recs = ['r0', 'r1', 'r2', 'r3', 'r4', 'r5'];
  await until(h, () => allEnded(p, recs), 'every job to finish');
  assert.is(h.child.exitCode, null, 'the watch is still running');
  assertEachRanOnce(p.calls());
  assert.is(p.starts(), 24);
  await stop(h);
  const events = fs.readFileSync(path.join(p.root, '.ephys-make', 'watch.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const started = events.filter((e) => e.type === 'job-started');
  assert.is(started.length, 24);
  assert.ok(started.every((e) => typeof e.time === 'string' && e.recording && e.stage && !('job' in e)));
  assert.ok(events.some((e) => e.type === 'watch' && e.what === 'queued' && e.recording === 'r3'));
  assert.ok(events.some((e) => e.type === 'stopping' && e.signal === 'SIGINT'));
}));

test('recordings arriving in bursts while one runs, each folder made a moment before its marker: every one is picked up without the rescan', timed(async () => {
  // A folder read by the watcher before its marker is written, and watched only after, must not
  // hide the recording until the periodic rescan (an hour here). Many recordings, several rounds,
  // flat and SpikeGLX-like nested folders: the race was seen about once in twenty small runs.
  const p = makeProject({ recordings: ['r0'], head: head('{ settle_seconds: 0.3 }'), stages: `
  a:
    run: command
    command: ${fakeCommand('{name}/a', ['{marker}'], ['{output}/a.out'], ['--wait-for', '{root}/../go'])}
    inputs: ["{marker}"]
    outputs: ["{output}/a.out"]
` });
  const h = p.start(['watch', '-j', '2'], { env: { EPHYS_MAKE_RESCAN_SECONDS: '3600' } });
  started.push(h);
  await until(h, () => p.starts('r0/a') === 1, 'r0 a to run');
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  for (let round = 1; round <= 4; round++) {
    const names: string[] = [];
    const writes: Array<Promise<void>> = [];
    for (let i = 1; i <= 15; i++) {
      const nested = i % 4 === 0;
      const name = nested ? `g${round}_${i}/g${round}_${i}_imec0` : `s${round}_${i}`;
      names.push(name);
      fs.mkdirSync(path.join(p.root, name), { recursive: true });
      // The marker a few milliseconds later, as an acquisition program creates it.
      writes.push(sleep(Math.random() * (i % 2 ? 3 : 20)).then(() => fs.writeFileSync(path.join(p.root, name, 'probe.ap.bin'), `raw ${name}\n`)));
      if (i % 5 === 0) await sleep(Math.random() * 10);
    }
    await Promise.all(writes);
    const queued = (n: string) => new RegExp(`^queue  ${n}: `, 'm').test(h.output());
    try {
      // Bounded by the rescan (an hour), not by how busy the machine is.
      await waitUntil(() => names.every(queued), 'every recording to be queued', 110_000);
    } catch {
      throw new Error(`round ${round}: never picked up: ${names.filter((n) => !queued(n)).join(' ')}; the watch said:\n${h.output()}`);
    }
  }
  await stop(h);
}, 500_000));

test('SIGKILL during a job, then a new watch: the interrupted job reruns, finished ones do not', timed(async () => {
  const p = makeProject({ recordings: ['r1', 'r2'], head: head('{ settle_seconds: 0.2 }'), stages: fourStages({ bExtra: ['--wait-for', '{root}/../go'] }) });
  for (const r of ['r1', 'r2']) setMtime(path.join(p.rec(r), 'probe.ap.bin'), Date.now() / 1000 - 60);
  const first = watchIn(p, ['watch']);
  await until(first, () => p.starts('r1/b') === 1, 'r1 b to start');
  const orphan = p.calls().find((l) => l.label === 'r1/b')!.pid;
  first.child.kill('SIGKILL');
  await first.done;
  const second = watchIn(p, ['watch']);
  await second.waitForOutput(/^start  r1 b \(last run interrupted \(pid \d+ on \S+\)\)$/m);
  await until(second, () => !alive(orphan), 'the orphan of the killed watch to be stopped', 5000);
  writeFile(p.dir, 'go', '');
  await until(second, () => allEnded(p, ['r1', 'r2']), 'everything to finish');
  assert.is(p.starts('r1/a'), 1);
  assert.is(p.starts('r1/b'), 2);
  for (const l of ['r1/c', 'r1/d', 'r2/a', 'r2/b', 'r2/c', 'r2/d']) assert.is(p.starts(l), 1, l);
  await stop(second);
}));

test('a manual `ephys-make all` during a watch: every job runs once, never two at once', timed(async () => {
  const recs = ['r1', 'r2', 'r3', 'r4'];
  const p = makeProject({ recordings: recs, head: head('{ settle_seconds: 0.2 }'), stages: fourStages({ bExtra: ['--sleep-ms', '300'] }) });
  for (const r of recs) setMtime(path.join(p.rec(r), 'probe.ap.bin'), Date.now() / 1000 - 60);
  const h = watchIn(p, ['watch', '-j', '2']);
  await until(h, () => p.starts() >= 1, 'the watch to start a job');
  const manual = await p.run(['all', '-j', '2']);
  assert.is(manual.code, 0, manual.stdout + manual.stderr);
  await until(h, () => allEnded(p, recs), 'every job to finish');
  const lines = p.calls();
  assertEachRanOnce(lines);
  assert.is(p.starts(), 16);
  for (const s of lines.filter((l) => l.event === 'start')) {
    const e = lines.find((l) => l.event === 'end' && l.pid === s.pid)!;
    for (const o of lines.filter((l) => l.event === 'start' && l.label === s.label && l.pid !== s.pid)) {
      assert.ok(o.ms >= e.ms, `${s.label} overlaps itself`);
    }
  }
  await stop(h);
}));

const failingStages = `
  a:
    run: command
    command: ${fakeCommand('{name}/a', ['{marker}'], ['{output}/a.out'], ['--exit', '{exit_code}'])}
    inputs: ["{marker}"]
    outputs: ["{output}/a.out"]
    retries: 1
    params:
      a_params: { exit_code: "0" }
  b:
    run: command
    command: ${fakeCommand('{name}/b', ['{output}/a.out'], ['{output}/b.out'])}
    inputs: ["{output}/a.out"]
    outputs: ["{output}/b.out"]
`;

test('a failing recording does not stop the others or the watch; it is retried once per change', timed(async () => {
  const p = makeProject({ recordings: ['good1', 'bad', 'good2'], head: head('{ settle_seconds: 0.3 }'), stages: failingStages });
  writeFile(p.rec('bad'), 'ephys-make.yaml', 'stages: { a: { params: { a_params: { exit_code: "3" } } } }\n');
  const h = watchIn(p, ['watch']);
  await until(h, () => ended(p, 'good1/b') && ended(p, 'good2/b') && p.starts('bad/a') === 2, 'good recordings done, bad tried twice (retries: 1)');
  await h.waitForOutput(/^FAILED bad a: exit status 3\n(.|\n)*\n {2}\(will retry\)$/m);
  await h.waitForOutput(/^FAILED bad a: exit status 3\n(  \|.*\n)*  log: .*\n(?! {2}\(will retry\))/m);
  // Something else in the recording changes: the failure is held back, not retried.
  writeFile(p.rec('bad'), 'notes.txt', 'looked at it\n');
  await h.waitForOutput(/^held   bad: a failed before and nothing it depends on has changed; not retried until it does/m);
  // A new recording is still processed.
  writeFile(p.root, 'good3/probe.ap.bin', 'raw\n');
  await until(h, () => ended(p, 'good3/b'), 'good3 to be processed');
  assert.is(p.starts('bad/a'), 2);
  assert.is(p.starts('bad/b'), 0);
  // Its input changes: tried again (with its retry).
  fs.appendFileSync(path.join(p.rec('bad'), 'probe.ap.bin'), 'more\n');
  const fails = () => p.calls().filter((l) => l.event === 'fail' && l.label === 'bad/a').length;
  await until(h, () => fails() === 4, 'bad a to be tried again (and retried) after its input changed');
  await h.waitForOutput(/(FAILED bad a: (.|\n)*){4}/);
  assert.is(h.child.exitCode, null, 'the watch is still running');
  await stop(h);
  // A new watch does not retry it either: nothing changed.
  const again = await p.run(['watch', '--once']);
  assert.is(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /^held   bad: a failed before/m);
  assert.is(p.starts('bad/a'), 4);
}));

test('--once processes what is ready now, leaves a recording being written, exits 0', timed(async () => {
  const p = makeProject({ recordings: ['r1', 'r2', 'r3'], head: head('{ settle_seconds: 30 }') });
  for (const r of ['r1', 'r2']) setMtime(path.join(p.rec(r), 'probe.ap.bin'), Date.now() / 1000 - 120);
  const r = await p.run(['watch', '--once', '-j', '2']);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^later  r3: probe\.ap\.bin is being written \(changed [\d.]+ s ago\); left for the next run$/m);
  assert.ok(allEnded(p, ['r1', 'r2']));
  assert.is(p.starts(), 8);
  assert.is(p.starts('r3/a'), 0);
  assert.match(r.stdout, /^8 jobs done, 0 failed$/m);
  const again = await p.run(['watch', '--once']);
  assert.is(again.code, 0);
  assert.is(p.starts(), 8, 'nothing finished is redone');
}));

test('a marker that changes while its jobs run: they are stopped, their record says why, and rerun once settled', timed(async () => {
  const p = makeProject({ recordings: ['r1'], head: head('{ settle_seconds: 0.5 }'), stages: fourStages({ bExtra: ['--wait-for', '{root}/../go'] }) });
  setMtime(path.join(p.rec('r1'), 'probe.ap.bin'), Date.now() / 1000 - 60);
  const h = watchIn(p, ['watch']);
  await until(h, () => p.starts('r1/b') === 1, 'r1 b to start');
  fs.appendFileSync(path.join(p.rec('r1'), 'probe.ap.bin'), 'late samples\n');
  await h.waitForOutput(/^stop   r1: probe\.ap\.bin changed while its jobs ran; stopping them, then waiting for it to settle$/m);
  await h.waitForOutput(/^interrupted r1 b$/m);
  const state = JSON.parse(fs.readFileSync(path.join(p.rec('r1'), '.ephys-make', 'state.json'), 'utf8'));
  assert.is(state.jobs.b.status, 'interrupted');
  assert.is(state.jobs.b.stoppedBecause, 'stopped: probe.ap.bin changed while its jobs ran');
  await h.waitForOutput(/^ready  r1: unchanged for 0\.5 s$/m);
  writeFile(p.dir, 'go', '');
  await until(h, () => allEnded(p, ['r1']) && p.starts('r1/b') === 2 && ended(p, 'r1/b'), 'r1 to be processed again');
  assert.match(h.output(), /^start  r1 a \(input changed: probe\.ap\.bin \(size/m);
  assert.match(h.output(), /^start  r1 b \(last run interrupted \(pid \d+ on \S+\): stopped: probe\.ap\.bin changed while its jobs ran\)$/m);
  const runs = fs.readFileSync(path.join(p.rec('r1'), '.ephys-make', 'runs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(runs.some((x) => x.stage === 'b' && x.status === 'interrupted' && x.message === 'stopped: probe.ap.bin changed while its jobs ran'));
  await stop(h);
}));

test('pipeline.yaml edited while watching: stale stages queued, running work goes on; an invalid edit is reported', timed(async () => {
  const p = makeProject({ recordings: ['r1'], head: head('{ settle_seconds: 0.2 }'), stages: fourStages({ bExtra: ['--wait-for', '{root}/../go'] }) });
  setMtime(path.join(p.rec('r1'), 'probe.ap.bin'), Date.now() / 1000 - 60);
  const h = watchIn(p, ['watch']);
  await until(h, () => p.starts('r1/b') === 1, 'r1 b to start');
  const yamlPath = path.join(p.dir, 'pipeline.yaml');
  const yaml = fs.readFileSync(yamlPath, 'utf8');
  fs.writeFileSync(yamlPath, yaml.replace('threshold: 4', 'threshold: 5'));
  await h.waitForOutput(/^pipeline\.yaml changed: planning every recording again$/m);
  writeFile(p.dir, 'go', '');
  await until(h, () => allEnded(p, ['r1']), 'r1 to be processed');
  assert.is(p.starts('r1/b'), 1, 'the running job was not stopped');
  assert.is(p.starts('r1/c'), 1, 'c ran once, with the new params');
  const input = JSON.parse(fs.readFileSync(path.join(p.rec('r1'), '.ephys-make', 'c', 'input.json'), 'utf8'));
  assert.is(input.c_params.threshold, 5);
  // Edited again, after the run: only the stage it affects reruns.
  fs.writeFileSync(yamlPath, yaml.replace('threshold: 4', 'threshold: 6'));
  await h.waitForOutput(/^start  r1 c \(params changed: c_params\.threshold 5 -> 6\)$/m);
  await until(h, () => p.starts('r1/c') === 2 && p.calls().filter((l) => l.event === 'end' && l.label === 'r1/c').length === 2, 'c to rerun');
  // An invalid edit: reported with its place, the watch carries on with the last good pipeline.
  fs.writeFileSync(yamlPath, yaml.replace('run: command', 'run: comand'));
  await h.waitForOutput(/^warning: pipeline\.yaml changed but has errors; still using the previous version:\npipeline\.yaml:\d+:\d+ error: /m);
  writeFile(p.root, 'r2/probe.ap.bin', 'raw\n');
  await until(h, () => allEnded(p, ['r2']), 'r2 to be processed with the last good pipeline');
  assert.is(h.child.exitCode, null);
  assert.is(p.starts('r1/a') + p.starts('r1/b') + p.starts('r1/d'), 3);
  await stop(h);
}));

test('a recording removed while queued is dropped with a message; a deleted output is noticed', timed(async () => {
  const p = makeProject({ recordings: ['r1'], head: head('{ settle_seconds: 0.2 }'), stages: fourStages({ bExtra: ['--wait-for', '{root}/../go'] }) });
  setMtime(path.join(p.rec('r1'), 'probe.ap.bin'), Date.now() / 1000 - 60);
  const h = watchIn(p, ['watch']);
  await until(h, () => p.starts('r1/b') === 1, 'r1 b to start');
  writeFile(p.root, 'r2/probe.ap.bin', 'raw\n');
  await h.waitForOutput(/^queue  r2: 4 jobs to run/m);
  fs.rmSync(p.rec('r2'), { recursive: true });
  await h.waitForOutput(/^gone   r2: removed; 4 queued or running jobs dropped$/m);
  writeFile(p.dir, 'go', '');
  await h.waitForOutput(/^done   r1 d /m);
  fs.rmSync(path.join(p.rec('r1'), 'd.out'));
  await h.waitForOutput(/^queue  r1: 1 job to run \(d: output missing: d\.out\)$/m);
  await until(h, () => p.starts('r1/d') === 2 && fs.existsSync(path.join(p.rec('r1'), 'd.out')), 'd to run again');
  assert.is(p.starts('r2/a'), 0);
  await stop(h);
}));

test.run();
