/**
 * `--executor slurm` against a real slurmctld + slurmd (a one-node cluster started for this file):
 * the stale graph goes to SLURM at once, the jobs write the records a local run writes, nothing is
 * submitted twice, a change resubmits only what it makes stale, GPUs become gres, and paths with
 * spaces and quotes survive sbatch.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { test } from 'uvu';
import { testUnless, timed, writeFile } from './rig.js';
import type { Project } from './project.js';
import { clusterOrReason } from './slurmCluster.js';
import { eventually, records, slurmProject, slurmState, submittedIds } from './slurmProject.js';

const { cluster, reason } = await clusterOrReason();
const slurmTest = testUnless(reason);
const env = cluster?.env ?? {};

/** A record as a run on any machine writes it: paths relative to the project, no SLURM id. */
function normalised(p: Project, rec: string): Record<string, unknown> {
  const rel = (o: Record<string, unknown> | undefined) => Object.keys(o ?? {}).map((k) => path.relative(p.dir, k)).sort();
  return Object.fromEntries(Object.entries(records(p, rec)).map(([stage, r]) => [stage, {
    fields: Object.keys(r).filter((k) => k !== 'slurm').sort(),
    status: r.status, exitCode: r.exitCode, definition: r.definition,
    inputs: rel(r.inputs), outputs: rel(r.outputs),
    inputJson: fs.readFileSync(path.join(p.rec(rec), '.ephys-make', stage, 'input.json'), 'utf8').split(p.dir).join('<project>'),
    output: fs.readFileSync(path.join(p.rec(rec), `${stage}.out`), 'utf8').split(p.dir).join('<project>'),
  }]));
}

let shared: Project | undefined;

slurmTest('3 recordings x 3 stages go to SLURM as one graph, run, and leave the records a local run leaves', timed(async () => {
  const p = slurmProject(['r1', 'r2', 'r3']);
  shared = p;
  const r = await p.run(['all', '--executor', 'slurm', '--wait'], { env });
  assert.is(r.code, 0, r.stdout + r.stderr);
  const ids = submittedIds(r.stdout);
  assert.is(ids.size, 9, r.stdout);
  // Upstream first, each job after its own upstream job only.
  assert.match(r.stdout, new RegExp(`^submit r2 c \\(output missing: c\\.out\\): SLURM job ${ids.get('r2 c')} after ${ids.get('r2 b')}$`, 'm'));
  assert.match(r.stdout, new RegExp(`^submit r1 a \\(output missing: a\\.out\\): SLURM job ${ids.get('r1 a')}$`, 'm'));
  assert.match(r.stdout, /^9 jobs done, 0 failed$/m);
  const names = cluster!.run('squeue', ['--noheader', '--states=all', `--jobs=${[...ids.values()].join(',')}`, '--format=%j %T']);
  assert.match(names, /^r1:a COMPLETED$/m);
  assert.match(names, /^r3:c COMPLETED$/m);
  for (const rec of ['r1', 'r2', 'r3']) {
    for (const stage of ['a', 'b', 'c']) {
      const slurm = records(p, rec)[stage].slurm;
      assert.equal(slurm, { jobId: ids.get(`${rec} ${stage}`), node: cluster!.host }, `${rec} ${stage}`);
    }
  }
  // The same pipeline run here: the same records, field for field.
  const local = slurmProject(['r1', 'r2', 'r3']);
  assert.is((await local.run(['all', '-j', '2'])).code, 0);
  for (const rec of ['r1', 'r2', 'r3']) assert.equal(normalised(p, rec), normalised(local, rec));
  const runs = fs.readFileSync(path.join(p.rec('r1'), '.ephys-make', 'runs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(runs.map((l) => [l.stage, l.status, l.reason]), [['a', 'done', 'output missing: a.out'], ['b', 'done', 'output missing: b.out'], ['c', 'done', 'output missing: c.out']]);
  assert.match(fs.readFileSync(path.join(p.rec('r1'), '.ephys-make', 'b', 'log.txt'), 'utf8'), /^=== b on r1, attempt 1, .*\nfake-stage r1\/b starting\nfake-stage r1\/b done\n$/);
}, 120_000));

slurmTest('a second `all` submits nothing', timed(async () => {
  const p = shared!;
  const r = await p.run(['all', '--executor', 'slurm'], { env });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, 'nothing to do: 9 jobs up to date\n');
}));

slurmTest('one input changed resubmits only what it makes stale', timed(async () => {
  const p = shared!;
  writeFile(p.root, 'r2/probe.ap.bin', 'new raw data of r2\n');
  const r = await p.run(['all', '--executor', 'slurm', '--wait'], { env });
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.equal([...submittedIds(r.stdout).keys()], ['r2 a', 'r2 b', 'r2 c']);
  assert.match(r.stdout, /^submit r2 a \(input changed: probe\.ap\.bin \(size 15 B -> 19 B\)\): SLURM job \d+$/m, r.stdout);
  assert.match(r.stdout, /^submit r2 b \(upstream reran: a\): SLURM job \d+ after \d+$/m);
  assert.match(fs.readFileSync(path.join(p.rec('r2'), 'c.out'), 'utf8'), /new raw data of r2/);
}, 90_000));

slurmTest('a second `all` while the jobs are queued submits nothing, and a local run leaves them to SLURM', timed(async () => {
  const p = slurmProject(['r1', 'r2'], { a: ['--wait-for', '{root}/../go'] });
  const first = await p.run(['all', '--executor', 'slurm'], { env });
  assert.is(first.code, 0, first.stderr);
  const ids = submittedIds(first.stdout);
  assert.is(ids.size, 6);
  assert.match(first.stdout, /^6 jobs submitted to SLURM; `ephys-make status` shows them, `ephys-make cancel` stops them$/m);
  const again = await p.run(['all', '--executor', 'slurm'], { env });
  assert.is(again.code, 0, again.stderr);
  assert.is(again.stdout, 'nothing to do: 6 jobs up to date or queued on SLURM (6 queued or running there)\n');
  const here = await p.run(['all'], { env });
  assert.is(here.code, 0, here.stderr);
  assert.is(here.stdout, 'nothing to do: 6 jobs up to date or queued on SLURM (6 queued or running there)\n');
  const status = await p.run(['status'], { env });
  assert.match(status.stdout, new RegExp(`^r1 b: queued on SLURM \\(job ${ids.get('r1 b')}, waiting for its upstream jobs\\)$`, 'm'));
  await eventually(() => (records(p, 'r1').a?.status === 'running' ? true : undefined), 'r1 a running on the node');
  const running = await p.run(['status'], { env });
  assert.match(running.stdout, /^r1\s+running\s+queued\s+queued$/m, running.stdout);
  assert.match(running.stdout, new RegExp(`^r1 a: running on ${cluster!.host} \\(SLURM job ${ids.get('r1 a')} since \\S+\\)$`, 'm'));
  const count = cluster!.run('squeue', ['--noheader', '--states=all', '--format=%i']).trim().split('\n').length;
  fs.writeFileSync(path.join(p.dir, 'go'), '');
  await eventually(() => (['r1', 'r2'].every((r) => records(p, r).c?.status === 'done') ? true : undefined), 'every job done');
  assert.is(cluster!.run('squeue', ['--noheader', '--states=all', '--format=%i']).trim().split('\n').length, count, 'no job submitted twice');
  assert.is(p.starts(), 6);
}, 90_000));

slurmTest('a stage with gpu: 1 asks SLURM for --gres=gpu:1 and sees the card SLURM gives it', timed(async () => {
  const p = slurmProject(['r1'], { bYaml: '    resources: { gpu: 1 }\n' });
  const r = await p.run(['all', '--executor', 'slurm', '--wait'], { env });
  assert.is(r.code, 0, r.stdout + r.stderr);
  const ids = submittedIds(r.stdout);
  const job = cluster!.run('scontrol', ['show', 'job', ids.get('r1 b')!]);
  assert.match(job, /TresPerNode=gres:gpu:1\b/);
  assert.not.match(cluster!.run('scontrol', ['show', 'job', ids.get('r1 a')!]), /TresPerNode=gres:gpu/);
  assert.is(slurmState(cluster!, ids.get('r1 b')!).tres, 'gres:gpu:1');
  const b = p.calls().find((c) => c.event === 'start' && c.label === 'r1/b')!;
  assert.is(b.cuda, '0', 'SLURM set CUDA_VISIBLE_DEVICES');
}, 90_000));

slurmTest('folders with spaces and quotes survive sbatch', timed(async () => {
  const name = `it's a "quoted" $HOME; rec`;
  const p = slurmProject([name]);
  const r = await p.run(['all', '--executor', 'slurm', '--wait'], { env });
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.is(submittedIds(r.stdout).size, 3);
  assert.match(fs.readFileSync(path.join(p.rec(name), 'c.out'), 'utf8'), new RegExp(`raw data of it's a "quoted" \\$HOME; rec`));
  const ids = [...submittedIds(r.stdout).values()];
  assert.match(cluster!.run('squeue', ['--noheader', '--states=all', `--jobs=${ids[0]}`, '--format=%j']), new RegExp(`^it's a "quoted" \\$HOME; rec:a$`, 'm'));
  assert.is((await p.run(['all', '--executor', 'slurm'], { env })).stdout, 'nothing to do: 3 jobs up to date\n');
}, 90_000));

test.run();
