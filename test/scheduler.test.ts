/**
 * The scheduler over small graphs, driven through its Executor as ninja's tests drive its builder
 * through a test command runner: jobs finish when the test says, so ordering, -j, pools, failures,
 * retries and abort are asserted step by step. Locks and pool slots are real files in a temp folder.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { tempDir, timed } from './rig.js';
import { Scheduler } from '../lib/engine/scheduler.js';
import { Pools } from '../lib/engine/pool.js';
import type { Executor } from '../lib/engine/lifecycle.js';
import type { JobOutcome } from '../lib/engine/execute.js';
import type { Job } from '../lib/engine/job.js';
import type { EngineEvent } from '../lib/engine/events.js';

interface Started { id: string; env: NodeJS.ProcessEnv; finish(out: JobOutcome): void; interrupted: boolean }

/** Jobs that run until the test finishes them. */
class TestExecutor implements Executor {
  running: Started[] = [];
  log: string[] = [];
  start(job: Job, o: { env: NodeJS.ProcessEnv; attempt: number }) {
    let finish!: (out: JobOutcome) => void;
    const outcome = new Promise<JobOutcome>((resolve) => { finish = resolve; });
    const s: Started = { id: job.id, env: o.env, interrupted: false, finish: (out) => { this.running = this.running.filter((r) => r !== s); finish(out); } };
    this.running.push(s);
    this.log.push(`start ${job.id}${o.attempt > 1 ? ` (attempt ${o.attempt})` : ''}`);
    return { outcome, interrupt: () => { s.interrupted = true; s.finish({ status: 'interrupted' }); } };
  }
  ids(): string[] { return this.running.map((r) => r.id).sort(); }
  finish(id: string, out: JobOutcome = { status: 'done' }): void { this.running.find((r) => r.id === id)!.finish(out); }
}

/** One recording per letter group: `jobs('r1', ['a', 'b<a', 'c<b'])`. */
function jobsOf(base: string, rec: string, specs: string[], resources: Record<string, Record<string, number>> = {}, retries: Record<string, number> = {}): Job[] {
  const byName = new Map<string, Job>();
  const dir = path.join(base, rec);
  for (const spec of specs) {
    const [name, deps = ''] = spec.split('<');
    const job = {
      id: `${rec}:${name}`,
      stage: { name, resources: resources[name] ?? {}, retries: retries[name] ?? 0, temp: false },
      recording: { name: rec, dir },
      stateDir: path.join(dir, '.ephys-make'),
      logPath: path.join(dir, `${name}.log`),
      outputs: [], deps: deps.split(',').filter(Boolean).map((d) => byName.get(d)!), consumers: [], consumerStages: 0,
    } as unknown as Job;
    for (const d of job.deps) d.consumers.push(job);
    byName.set(name, job);
  }
  return [...byName.values()];
}

function setup(o: { maxJobs?: number; keepGoing?: boolean; pools?: Record<string, number> } = {}) {
  const dir = tempDir();
  const exec = new TestExecutor();
  const events: EngineEvent[] = [];
  const s = new Scheduler({
    executor: exec, maxJobs: o.maxJobs ?? 4, keepGoing: o.keepGoing ?? false,
    pools: new Pools(path.join(dir, 'pools'), o.pools ?? {}), shuffle: false, waitForLocks: true,
    env: {}, emit: (e) => events.push(e), replan: () => new Map(),
  });
  const add = (jobs: Job[]) => s.add(jobs.map((job) => ({ job, reason: 'test' })));
  return { dir, exec, events, s, add };
}

/** Let promise callbacks and the scheduler's pump run. */
const settle = () => new Promise((r) => setTimeout(r, 20));

test('dependencies run in order; independent jobs run side by side up to -j', timed(async () => {
  const { dir, exec, s, add } = setup({ maxJobs: 2 });
  add([...jobsOf(dir, 'r1', ['a', 'b<a', 'c<a', 'd<b,c']), ...jobsOf(dir, 'r2', ['a'])]);
  await settle();
  assert.equal(exec.ids(), ['r1:a', 'r2:a']);
  exec.finish('r1:a'); await settle();
  assert.equal(exec.ids(), ['r1:b', 'r2:a'], '-j 2: c waits for a free place');
  exec.finish('r2:a'); await settle();
  assert.equal(exec.ids(), ['r1:b', 'r1:c']);
  exec.finish('r1:b'); await settle();
  assert.equal(exec.ids(), ['r1:c'], 'd waits for both b and c');
  exec.finish('r1:c'); await settle();
  assert.equal(exec.ids(), ['r1:d']);
  exec.finish('r1:d');
  assert.equal(await s.idle(), { done: 5, failed: 0, skipped: 0, interrupted: false });
}));

test('a pool of one slot runs its jobs one at a time, with the slot in their environment', timed(async () => {
  const { dir, exec, s, add } = setup({ pools: { gpu: 1 } });
  add(['r1', 'r2', 'r3'].flatMap((r) => jobsOf(dir, r, ['sort'], { sort: { gpu: 1 } })));
  for (let i = 0; i < 3; i++) {
    await settle();
    assert.is(exec.running.length, 1);
    assert.is(exec.running[0].env.CUDA_VISIBLE_DEVICES, '0');
    exec.finish(exec.running[0].id);
  }
  assert.equal((await s.idle()).done, 3);
}));

test('a failure stops launching and skips its dependents; with keep-going only its dependents are skipped', timed(async () => {
  for (const keepGoing of [false, true]) {
    const { dir, exec, s, add, events } = setup({ maxJobs: 1, keepGoing });
    add([...jobsOf(dir, 'r1', ['a', 'b<a']), ...jobsOf(dir, 'r2', ['a'])]);
    await settle();
    exec.finish('r1:a', { status: 'failed', message: 'exit status 1' });
    await settle();
    if (keepGoing) { assert.equal(exec.ids(), ['r2:a']); exec.finish('r2:a'); }
    const summary = await s.idle();
    assert.equal(summary, keepGoing ? { done: 1, failed: 1, skipped: 1, interrupted: false } : { done: 0, failed: 1, skipped: 2, interrupted: false });
    // Without keep-going nothing more is launched at all; with it, b is skipped for its upstream.
    if (keepGoing) assert.ok(events.some((e) => e.type === 'job-skipped' && e.job.id === 'r1:b' && e.why === 'upstream-failed'), 'b is skipped because a failed');
  }
}));

test('retries: a failed job is queued again, its dependents wait for the retry', timed(async () => {
  const { dir, exec, s, add } = setup();
  add(jobsOf(dir, 'r1', ['copy', 'use<copy'], {}, { copy: 1 }));
  await settle();
  exec.finish('r1:copy', { status: 'failed', message: 'network' });
  await new Promise((r) => setTimeout(r, 1200)); // the first retry waits a second
  assert.equal(exec.log, ['start r1:copy', 'start r1:copy (attempt 2)']);
  exec.finish('r1:copy'); await settle();
  assert.equal(exec.ids(), ['r1:use']);
  exec.finish('r1:use');
  assert.equal((await s.idle()).done, 2);
}));

test('abort: running jobs are interrupted, queued ones never start', timed(async () => {
  const { dir, exec, s, add } = setup({ maxJobs: 1 });
  add(jobsOf(dir, 'r1', ['a', 'b<a']));
  await settle();
  const running = exec.running[0];
  s.abort();
  assert.ok(running.interrupted);
  assert.equal(await s.idle(), { done: 0, failed: 0, skipped: 2, interrupted: true });
  assert.equal(exec.log, ['start r1:a']);
}));

test("one recording at a time per process: a job's recording lock is held while it runs and released after", timed(async () => {
  const { dir, exec, s, add } = setup();
  add(jobsOf(dir, 'r1', ['a']));
  await settle();
  const { tryLock } = await import('../lib/engine/lock.js');
  const other = tryLock(path.join(dir, 'r1', '.ephys-make', 'lock'), 'another ephys-make');
  assert.not.ok(other.ok, 'the lock is held while r1:a runs');
  exec.finish('r1:a');
  await s.idle();
  const after = tryLock(path.join(dir, 'r1', '.ephys-make', 'lock'), 'another ephys-make');
  assert.ok(after.ok, 'and released once nothing of r1 is queued or running');
  if (after.ok) after.release();
}));

test.run();
