/**
 * How SLURM jobs end, against a real slurmctld + slurmd: a failure cancels its dependents and
 * `status` names them, `ephys-make cancel`, an `scancel` from outside, and a watch that hands a new
 * recording to SLURM once it is ready.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { test } from 'uvu';
import { testUnless, timed, writeFile } from './rig.js';
import { clusterOrReason } from './slurmCluster.js';
import { eventually, records, slurmProject, slurmState, submittedIds } from './slurmProject.js';

const { cluster, reason } = await clusterOrReason();
const slurmTest = testUnless(reason);
const env = cluster?.env ?? {};

/** Until no record of these recordings is queued or running any more, as `status` settles them. */
async function settled(p: ReturnType<typeof slurmProject>, recs: string[]): Promise<string> {
  return eventually(async () => {
    const s = await p.run(['status'], { env });
    return recs.some((r) => Object.values(records(p, r)).some((x: any) => x.status === 'queued' || x.status === 'running')) ? undefined : s.stdout;
  }, 'every SLURM job to end');
}

slurmTest('a failing job cancels its dependents, and status says which failed and why the others did not run', timed(async () => {
  const p = slurmProject(['r1'], { b: ['--exit', '3'] });
  const r = await p.run(['all', '--executor', 'slurm'], { env });
  assert.is(r.code, 0, r.stderr);
  const ids = submittedIds(r.stdout);
  const status = await settled(p, ['r1']);
  assert.match(status, /^r1\s+up to date\s+failed\s+cancelled$/m, status);
  assert.match(status, new RegExp(`^r1 b: last run failed on SLURM \\(job ${ids.get('r1 b')} on ${cluster!.host}\\): exit 3; log: .*/r1/\\.ephys-make/b/log\\.txt$`, 'm'), status);
  assert.match(status, new RegExp(`^r1 c: cancelled: not started: upstream b did not succeed \\(SLURM job ${ids.get('r1 c')} cancelled\\)$`, 'm'), status);
  assert.is(slurmState(cluster!, ids.get('r1 c')!).state, 'CANCELLED');
  // The next run says why each job runs again.
  const again = await p.run(['-n'], { env });
  assert.match(again.stdout, /^would run r1 b: last run failed \(exit 3\)$/m, again.stdout);
  assert.match(again.stdout, /^would run r1 c: last run interrupted: not started: upstream b did not succeed \(SLURM job \d+ cancelled\)$/m, again.stdout);
  // --wait reports the same and exits 1.
  const waited = await p.run(['all', '--executor', 'slurm', '--wait'], { env });
  assert.is(waited.code, 1, waited.stdout);
  assert.match(waited.stdout, /^FAILED r1 b: exit status 3\n  \| === b on r1, attempt 1, .*\n(  \| .*\n)*  log: .*b\/log\.txt$/m, waited.stdout);
  assert.match(waited.stdout, /^skip   r1 c: not started: upstream b did not succeed \(SLURM job \d+ cancelled\)$/m, waited.stdout);
  assert.match(waited.stdout, /^0 jobs done, 1 failed, 1 not run$/m, waited.stdout);
}, 90_000));

slurmTest('`ephys-make cancel` scancels what the root has queued or running and records it', timed(async () => {
  const p = slurmProject(['r1', 'r2'], { b: ['--wait-for', '{root}/../never'] });
  const r = await p.run(['all', '--executor', 'slurm'], { env });
  const ids = submittedIds(r.stdout);
  await eventually(() => (records(p, 'r2').b?.status === 'running' ? true : undefined), 'r2 b running');
  const c = await p.run(['cancel', 'b', '--dir', 'data/r2'], { env });
  assert.is(c.code, 0, c.stderr);
  assert.match(c.stdout, new RegExp(`^cancel r2 b: SLURM job ${ids.get('r2 b')} \\(was running on ${cluster!.host}\\)$`, 'm'), c.stdout);
  assert.match(c.stdout, new RegExp(`^cancel r2 c: SLURM job ${ids.get('r2 c')} \\(was queued\\)$`, 'm'), c.stdout);
  assert.match(c.stdout, /^2 SLURM jobs cancelled$/m);
  assert.is(slurmState(cluster!, ids.get('r1 b')!).state, 'RUNNING', 'other recordings are left alone');
  await eventually(() => (['r2 b', 'r2 c'].every((k) => slurmState(cluster!, ids.get(k)!).state === 'CANCELLED') ? true : undefined), 'SLURM to cancel them');
  const all = await p.run(['cancel'], { env });
  assert.match(all.stdout, /^2 SLURM jobs cancelled$/m, all.stdout);
  const status = await settled(p, ['r1', 'r2']);
  assert.match(status, /^r2\s+up to date\s+cancelled\s+cancelled$/m, status);
  assert.match(status, /^r2 b: cancelled: (cancelled by ephys-make cancel \(.+ on .+\)|SLURM job \d+ was cancelled)$/m, status);
  assert.match((await p.run(['cancel'], { env })).stdout, /^nothing to cancel: no job is queued or running on SLURM$/m);
  const n = await p.run(['-n'], { env });
  assert.match(n.stdout, /^would run r2 b: last run interrupted \(pid \d+ on .+\): (cancelled by ephys-make cancel|SLURM job \d+ was cancelled)/m, n.stdout);
}, 90_000));

slurmTest('an scancel from outside is noticed and the job reruns next time with that reason', timed(async () => {
  const p = slurmProject(['r1'], { a: ['--wait-for', '{root}/../never'] });
  const ids = submittedIds((await p.run(['all', '--executor', 'slurm'], { env })).stdout);
  await eventually(() => (records(p, 'r1').a?.status === 'running' ? true : undefined), 'r1 a running');
  cluster!.run('scancel', [ids.get('r1 a')!]);
  const status = await settled(p, ['r1']);
  assert.match(status, /^r1\s+cancelled\s+cancelled\s+cancelled$/m, status);
  assert.match(status, new RegExp(`^r1 a: cancelled: SLURM job ${ids.get('r1 a')} was cancelled$`, 'm'), status);
  assert.match(status, /^r1 b: cancelled: not started: upstream a did not succeed/m, status);
  const again = await p.run(['all', '--executor', 'slurm', '-n'], { env });
  assert.match(again.stdout, new RegExp(`^would run r1 a: last run interrupted \\(pid \\d+ on ${cluster!.host}\\): SLURM job ${ids.get('r1 a')} was cancelled$`, 'm'), again.stdout);
  const resubmitted = await p.run(['all', '--executor', 'slurm'], { env });
  assert.match(resubmitted.stdout, /^submit r1 a \(last run interrupted .*SLURM job \d+ was cancelled\): SLURM job \d+$/m, resubmitted.stdout);
  await p.run(['cancel'], { env });
}, 90_000));

slurmTest('watch --executor slurm submits a new recording once it is ready', timed(async () => {
  const p = slurmProject(['r1'], { head: '  ready: { settle_seconds: 0.3 }\nresources: { gpu: 1 }' });
  const w = p.start(['watch', '--executor', 'slurm'], { env });
  try {
    await w.waitForOutput(/watching .*: 1 recording\b.*jobs go to SLURM/);
    await w.waitForOutput(/^queue  r1: 3 jobs submitted to SLURM$/m);
    writeFile(p.root, 'r2/probe.ap.bin', 'raw data of r2\n');
    await w.waitForOutput(/^queue  r2: 3 jobs submitted to SLURM$/m, 60_000);
    assert.match(w.output(), /^submit r2 a \(output missing: a\.out\): SLURM job \d+$/m);
    await eventually(() => (['r1', 'r2'].every((r) => records(p, r).c?.status === 'done') ? true : undefined), 'both recordings done on SLURM');
    assert.is(p.starts(), 6);
    assert.ok(fs.existsSync(path.join(p.rec('r2'), 'c.out')));
  } finally {
    w.child.kill('SIGINT');
    await w.done;
  }
}, 90_000));

test.run();
