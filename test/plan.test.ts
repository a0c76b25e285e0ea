/** plan.ts is pure: scenarios on plain objects, each asserting the jobs and their first reasons. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { planJobs, type Decision } from '../lib/engine/plan.js';
import type { Job } from '../lib/engine/job.js';
import type { RecordingState } from '../lib/engine/record.js';
import { describeReason } from '../lib/engine/reason.js';

interface Lab { jobs: Job[]; files: Map<string, string>; state: RecordingState; previous?: unknown }

function lab(temp = false): Lab {
  const mk = (name: string, ins: string[], outs: string[], deps: Job[]): Job => {
    const j = {
      id: `r:${name}`, stage: { name, temp: temp && name === 'a' } as any, recording: { name: 'r' } as any, stateDir: '/s',
      inputs: ins.map((p) => ({ path: p, optional: false, template: p })), outputs: outs,
      input: { json: { p: { v: 1 } }, hash: 'h1' } as any, inputHash: 'h1', definition: { runner: 'command', module: name, command: [name] },
      deps, consumers: [], consumerStages: 0,
    } as unknown as Job;
    for (const d of deps) d.consumers.push(j);
    return j;
  };
  const a = mk('a', ['/raw'], ['/a.out'], []);
  const b = mk('b', ['/a.out'], ['/b.out'], [a]);
  const c = mk('c', ['/b.out'], ['/c.out'], [b]);
  const files = new Map([['/raw', '1:1:1'], ['/a.out', '2:2:2'], ['/b.out', '3:3:3'], ['/c.out', '4:4:4']]);
  const rec = (j: Job) => ({ status: 'done' as const, definition: j.definition, inputHash: 'h1', inputs: Object.fromEntries(j.inputs.map((i) => [i.path, files.get(i.path)!])), outputs: Object.fromEntries(j.outputs.map((o) => [o, files.get(o)!])) });
  return { jobs: [a, b, c], files, state: { version: 1, jobs: { a: rec(a), b: rec(b), c: rec(c) } } };
}

function plan(l: Lab, extra: Partial<Parameters<typeof planJobs>[0]> = {}): string[] {
  const d = planJobs({ jobs: l.jobs, states: () => l.state, stat: (p) => l.files.get(p), mtimeNs: (p) => (l.files.has(p) ? BigInt(l.files.get(p)!.split(':')[1]) : undefined), previousInput: () => l.previous, leftovers: () => undefined, hash: () => undefined, ...extra });
  return l.jobs.map((j) => `${j.stage.name}: ${show(d.get(j.id)!)}`);
}
function show(d: Decision): string {
  if (d.run) return describeReason(d.reason);
  return 'blocked' in d ? `blocked ${d.blocked.path}` : 'inFlight' in d ? `${d.inFlight.status} on SLURM as job ${d.inFlight.slurmJobId}` : d.fresh.kind;
}

test('all records match: nothing runs', () => {
  assert.equal(plan(lab()), ['a: up-to-date', 'b: up-to-date', 'c: up-to-date']);
});

test('a changed source reruns the chain, each with its first reason', () => {
  const l = lab();
  l.files.set('/raw', '9:1:1');
  assert.equal(plan(l), ['a: input changed: raw (size 1 B -> 9 B)', 'b: upstream reran: a', 'c: upstream reran: b']);
});

test('the fixed order: interrupted before missing output before definition before params before inputs', () => {
  const l = lab();
  l.state.jobs.b = { ...l.state.jobs.b, status: 'running', pid: 7, host: 'h' };
  l.files.delete('/b.out');
  assert.equal(plan(l)[1], 'b: last run interrupted (pid 7 on h)');
  const m = lab();
  m.files.delete('/b.out');
  m.state.jobs.b.definition = { runner: 'command', module: 'b', command: ['old'] };
  assert.equal(plan(m)[1], 'b: output missing: b.out');
  m.files.set('/b.out', '3:3:3');
  assert.equal(plan(m)[1], 'b: definition changed: command old -> b');
  const n = lab();
  n.state.jobs.b.inputHash = 'h0';
  n.previous = { p: { v: 0 } };
  n.files.set('/a.out', '5:5:5');
  assert.equal(plan(n).slice(1), ['b: params changed: p.v 0 -> 1', 'c: upstream reran: b']);
});

test('an output changed by someone else is stale; a failed record reruns', () => {
  const l = lab();
  l.files.set('/c.out', '4:5:99');
  assert.equal(plan(l)[2], 'c: output changed since the last run: c.out');
  // Same size and time to the nanosecond at a new inode: a copy that kept its times (cp -a).
  l.files.set('/c.out', '4:4:99');
  assert.equal(plan(l)[2], 'c: confirmed');
  l.state.jobs.a.status = 'failed';
  l.state.jobs.a.exitCode = 2;
  assert.equal(plan(l)[0], 'a: last run failed (exit 2)');
});

test('a job queued or running on SLURM is left to it, even when forced; what follows it reruns after it', () => {
  const l = lab();
  l.files.set('/raw', '9:1:1');
  l.state.jobs.a = { status: 'running', slurm: { jobId: '41', node: 'n7' } };
  assert.equal(plan(l), ['a: running on SLURM as job 41', 'b: upstream reran: a', 'c: upstream reran: b']);
  assert.equal(plan(l, { forceAll: true }), ['a: running on SLURM as job 41', 'b: forced', 'c: forced']);
  // Once SLURM's end is known the record is the job's like any other.
  l.state.jobs.a = { status: 'interrupted', stoppedBecause: 'SLURM job 41 was cancelled', slurm: { jobId: '41', state: 'CANCELLED' } };
  assert.equal(plan(l), ['a: last run interrupted: SLURM job 41 was cancelled', 'b: upstream reran: a', 'c: upstream reran: b']);
  l.state.jobs.a = { status: 'failed', exitCode: null, stoppedBecause: 'SLURM job 41 ran out of memory', slurm: { jobId: '41', state: 'OUT_OF_MEMORY' } };
  assert.equal(plan(l)[0], 'a: last run failed: SLURM job 41 ran out of memory');
});

test('forced, and a missing source blocks', () => {
  assert.equal(plan(lab(), { forceStages: new Set(['b']) }), ['a: up-to-date', 'b: forced', 'c: upstream reran: b']);
  const l = lab();
  l.files.delete('/raw');
  assert.equal(plan(l)[0], 'a: blocked /raw');
});

test('adoption: no records, outputs newer than inputs', () => {
  const l = lab();
  l.state.jobs = {};
  assert.equal(plan(l), ['a: adopted', 'b: adopted', 'c: adopted']);
  l.files.set('/a.out', '2:9:2');
  assert.equal(plan(l), ['a: adopted', 'b: input newer than output: a.out is newer than b.out', 'c: upstream reran: b']);
});

test('temporary outputs: removed and not needed is fine; needed again brings the producer back', () => {
  const l = lab(true);
  l.state.jobs.a = { ...l.state.jobs.a, tempRemoved: true };
  l.files.delete('/a.out');
  assert.equal(plan(l), ['a: up-to-date', 'b: up-to-date', 'c: up-to-date']);
  l.files.delete('/b.out');
  assert.equal(plan(l), ['a: temporary output removed earlier, needed again by b', 'b: output missing: b.out', 'c: input changed: b.out (deleted)']);
});

test.run();
