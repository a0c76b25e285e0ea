import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { filesUnder, repoRoot, timed } from './rig.js';
import { WorkerPool } from '../lib/base/workerPool.js';
import { StageError } from '../lib/base/stageError.js';
import { serveTestTasks, type TestResult, type TestSetup, type TestTask } from './fixtures/poolWorker.js';

const script = new URL('./fixtures/poolWorker.js', import.meta.url);

function setup(): TestSetup {
  return {
    log: new Int32Array(new SharedArrayBuffer(4 * 64)),
    gates: new Int32Array(new SharedArrayBuffer(4 * 16)),
    closed: new Int32Array(new SharedArrayBuffer(4 * 4)),
  };
}

function pool(workers: number, s = setup(), extra: { signal?: AbortSignal; onProgress?: (m: string, w: number) => void } = {}) {
  return new WorkerPool<TestSetup, TestTask, TestResult, string>({ name: 'test', script, server: serveTestTasks, setup: s, workers, ...extra });
}

function open(s: TestSetup, gate: number): void {
  Atomics.store(s.gates, gate, 1);
  Atomics.notify(s.gates, gate);
}

/** Where a promise stands without waiting for it. */
async function stateOf(p: Promise<unknown>): Promise<'pending' | 'settled'> {
  const marker = Symbol('pending');
  const r = await Promise.race([p.then(() => 'settled' as const, () => 'settled' as const), new Promise((res) => setImmediate(() => res(marker)))]);
  return r === marker ? 'pending' : 'settled';
}

test('runAll returns results in task order although later tasks finish first', timed(async () => {
  const s = setup();
  const p = pool(2, s);
  const done: number[] = [];
  const all = p.runAll(Array.from({ length: 6 }, (_, i): TestTask => ({ kind: 'gated', gate: i, value: 10 + i })), (r) => done.push(r as number));
  // Open the gates last to first: each worker's own queue still runs in the order it was sent.
  for (let g = 5; g >= 0; g--) open(s, g);
  assert.equal(await all, [10, 11, 12, 13, 14, 15]);
  assert.equal([...done].sort(), [10, 11, 12, 13, 14, 15]);
  await p.close();
}));

test('a worker runs its tasks one at a time in the order they were sent', timed(async () => {
  const s = setup();
  const p = pool(2, s);
  const values = [5, 3, 9, 1, 7, 2, 8];
  await Promise.all(values.map((value) => p.run({ kind: 'logged', value }, { worker: 1 })));
  assert.is(s.log[0], values.length);
  assert.equal([...s.log.subarray(1, 1 + values.length)], values);
  await p.close();
}));

test('inline and threaded pools give the same results', timed(async () => {
  const tasks: TestTask[] = [...Array.from({ length: 20 }, (_, n): TestTask => ({ kind: 'square', n })), { kind: 'fill', length: 5 }, { kind: 'progress', steps: 3 }];
  const inline = pool(0);
  const threaded = pool(2);
  assert.ok(inline.isInline);
  assert.is(threaded.size, 2);
  const a = await inline.runAll(tasks);
  const b = await threaded.runAll(tasks);
  assert.equal(b, a);
  assert.equal(a[20], Float64Array.from([0, 0.5, 1, 1.5, 2]));
  await Promise.all([inline.close(), threaded.close()]);
}));

test('each worker knows its number; broadcast reaches every worker', timed(async () => {
  const threaded = pool(3);
  assert.equal(await threaded.broadcast({ kind: 'who' }), [3, 103, 203]);
  await threaded.close();
  const inline = pool(0);
  assert.equal(await inline.broadcast({ kind: 'who' }), [1]);
  await inline.close();
}));

test('progress messages reach onProgress with the worker that sent them', timed(async () => {
  for (const workers of [0, 1]) {
    const seen: string[] = [];
    const p = pool(workers, setup(), { onProgress: (m, w) => seen.push(`${w}: ${m}`) });
    assert.is(await p.run({ kind: 'progress', steps: 3 }), 3);
    assert.equal(seen, ['0: step 1 of 3', '0: step 2 of 3', '0: step 3 of 3']);
    await p.close();
  }
}));

test('an expected failure in a worker stays a StageError with its message; a bug is an internal error', timed(async () => {
  for (const workers of [0, 2]) {
    const p = pool(workers);
    const err = await p.run({ kind: 'fail', message: 'ap.bin is cut short', expected: true }).catch((e) => e);
    assert.instance(err, StageError);
    assert.is(err.message, 'ap.bin is cut short');
    await p.close();
    const q = pool(workers);
    const bug = await q.run({ kind: 'fail', message: 'x is undefined', expected: false }).catch((e) => e);
    assert.not.instance(bug, StageError);
    assert.is(bug.message, workers === 0 ? 'x is undefined' : 'internal error in a test worker: x is undefined');
    await q.close();
  }
}));

test('the first failure rejects runAll and everything pending, and stops a worker still busy', timed(async () => {
  const s = setup();
  const p = pool(2, s);
  const spinning = p.run({ kind: 'spin' }, { worker: 0 });
  const queued = p.run({ kind: 'square', n: 4 }, { worker: 0 });
  const all = p.runAll([{ kind: 'square', n: 2 }, { kind: 'fail', message: 'bad chunk', expected: true }, { kind: 'square', n: 3 }]);
  const err = await all.catch((e) => e);
  assert.is(err.message, 'bad chunk');
  // The spinning worker never answers: it is terminated, not waited for.
  assert.is((await spinning.catch((e) => e)).message, 'bad chunk');
  assert.is((await queued.catch((e) => e)).message, 'bad chunk');
  assert.is((await p.run({ kind: 'square', n: 5 }).catch((e) => e)).message, 'bad chunk');
  await p.close();
}));

test('a worker that exits rejects what it was given and the pool stops', timed(async () => {
  const p = pool(2);
  const err = await p.runAll([{ kind: 'square', n: 1 }, { kind: 'exit' }, { kind: 'square', n: 2 }]).catch((e) => e);
  assert.match(err.message, /internal error: a test worker exited with code 3/);
  await p.close();
}));

test('aborting the signal stops busy workers and rejects with StageError stopped', timed(async () => {
  const s = setup();
  const controller = new AbortController();
  const p = pool(2, s, { signal: controller.signal });
  const a = p.run({ kind: 'spin' });
  const b = p.run({ kind: 'spin' });
  assert.is(await stateOf(a), 'pending');
  controller.abort();
  const err = await a.catch((e) => e);
  assert.instance(err, StageError);
  assert.is(err.message, 'stopped');
  assert.instance(await b.catch((e) => e), StageError);
  await p.close();
}));

test('close lets workers finish what they were sent and closes each handler', timed(async () => {
  const s = setup();
  const p = pool(2, s);
  const a = p.run({ kind: 'gated', gate: 0, value: 1 }, { worker: 0 });
  const b = p.run({ kind: 'gated', gate: 1, value: 2 }, { worker: 1 });
  const closed = p.close();
  assert.is(await stateOf(closed), 'pending');
  assert.equal([...s.closed.subarray(0, 2)], [0, 0]);
  open(s, 0);
  open(s, 1);
  await closed;
  assert.equal([await a, await b], [1, 2]);
  assert.equal([...s.closed.subarray(0, 2)], [1, 1]);
  const inlineSetup = setup();
  const inline = pool(0, inlineSetup);
  await inline.run({ kind: 'square', n: 1 });
  await inline.close();
  assert.is(inlineSetup.closed[0], 1);
}));

test('buffers listed for transfer move instead of being copied, both ways', timed(async () => {
  const p = pool(1);
  const data = Float64Array.from([1, 2, 3.5]);
  assert.is(await p.run({ kind: 'sum', data }, { transfer: [data.buffer as ArrayBuffer] }), 6.5);
  assert.is(data.byteLength, 0);
  const filled = await p.run({ kind: 'fill', length: 3 }) as Float64Array;
  assert.equal(filled, Float64Array.from([0, 0.5, 1]));
  await p.close();
}));

test('send hands a task to one worker without an answer, in order with that worker\'s other tasks', timed(async () => {
  for (const workers of [0, 2]) {
    const s = setup();
    const p = pool(workers, s);
    await p.broadcast({ kind: 'who' }); // every worker started
    const w = Math.max(0, workers - 1);
    p.send({ kind: 'logged', value: 4 }, { worker: w });
    p.send({ kind: 'logged', value: 6 }, { worker: w });
    if (workers > 0) assert.is(p.idleCount, workers, 'a task sent is not outstanding work');
    assert.is(await p.run({ kind: 'logged', value: 8 }, { worker: w }), 8);
    assert.equal([...s.log.subarray(0, 4)], [3, 4, 6, 8]);
    await p.close();
  }
}));

test('whenReady resolves once a worker has started; idleCount counts started workers without work', timed(async () => {
  const s = setup();
  const p = pool(1, s);
  await p.whenReady();
  assert.is(p.idleCount, 1);
  const r = p.run({ kind: 'gated', gate: 0, value: 7 });
  assert.is(p.idleCount, 0);
  open(s, 0);
  assert.is(await r, 7);
  assert.is(p.idleCount, 1);
  await p.close();
}));

test('a worker whose handler cannot be built fails the pool: whenReady and every task reject with its error', timed(async () => {
  for (const workers of [0, 2]) {
    const p = pool(workers, { ...setup(), failSetup: 'no such probe' });
    const err = await p.run({ kind: 'square', n: 2 }).catch((e) => e);
    assert.instance(err, StageError);
    assert.is(err.message, 'no such probe');
    if (workers > 0) assert.is((await p.whenReady().catch((e) => e)).message, 'no such probe');
    await p.close();
  }
}));

test('threads are started only by the pool: no other file of lib/ or stages/ imports node:worker_threads', () => {
  const found = ['lib', 'stages'].flatMap((dir) => filesUnder(path.join(repoRoot, dir)).map((f) => `${dir}/${f}`))
    .filter((rel) => rel.endsWith('.ts') && /from\s*'(node:)?worker_threads'/.test(fs.readFileSync(path.join(repoRoot, rel), 'utf8')));
  assert.equal(found, ['lib/base/workerPool.ts']);
});

test.run();
