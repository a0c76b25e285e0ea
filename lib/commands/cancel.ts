/**
 * `ephys-make cancel [STAGE...] [--dir D]`: scancel what this root has queued or running on SLURM
 * (those stages' jobs and the jobs after them; every one without STAGE), and record them as
 * cancelled, so `status` says so and the next run starts them again.
 */
import os from 'node:os';
import { engineOptions, printDiagnostics, type CliOptions } from './options.js';
import type { Io } from '../base/io.js';
import { openPlanner, type RecordingPlan } from '../engine/planner.js';
import { downstreamOf, stagesFor } from '../engine/graph.js';
import { isInFlight, readState, updateState } from '../engine/record.js';
import { isAlive } from '../base/processInfo.js';
import { describeHolder } from '../engine/lock.js';

export async function cancel(o: CliOptions, io: Io): Promise<number> {
  const opened = openPlanner({ ...engineOptions(o, io), targets: [] });
  if (!opened.ok) return printDiagnostics(io, opened.diagnostics);
  const planner = opened.value;
  const named = stagesFor(planner.graph, o.targets, planner.pipeline);
  if (!named.ok) return printDiagnostics(io, named.diagnostics);
  let stages = new Set(planner.stages.map((s) => s.name));
  if (o.targets.length && !o.targets.includes('all')) {
    stages = new Set(o.targets);
    for (const t of o.targets) for (const d of downstreamOf(planner.graph, t)) stages.add(d);
  }
  const found = planner.discover();
  if (!found.ok) return printDiagnostics(io, found.diagnostics);

  const { reconcilePlans } = await import('../engine/slurm/reconcile.js');
  const { cancelSlurmJobs } = await import('../engine/slurm/slurmView.js');
  const plans: RecordingPlan[] = [];
  for (const rec of found.value) {
    const rp = planner.jobsOf(rec);
    if (!rp.ok) return printDiagnostics(io, rp.diagnostics);
    if (rp.value.jobs.length) plans.push(rp.value);
  }
  // Jobs that have ended meanwhile are recorded as they ended, not as cancelled.
  const settled = await reconcilePlans(plans, io.env);
  if (settled.error) { io.err(`ephys-make cancel: cannot ask SLURM: ${settled.error}\n`); return 1; }

  const targets: Array<{ rp: RecordingPlan; stage: string; jobId: string; where: string }> = [];
  let local = 0;
  for (const rp of plans) {
    const state = readState(rp.jobs[0].stateDir);
    for (const job of rp.jobs) {
      if (!stages.has(job.stage.name)) continue;
      const r = state.jobs[job.stage.name];
      if (isInFlight(r)) {
        targets.push({ rp, stage: job.stage.name, jobId: r.slurm.jobId, where: r.status === 'running' ? `running${r.slurm.node ? ` on ${r.slurm.node}` : ''}` : 'queued' });
      } else if (r?.status === 'running' && r.pid && r.host && isAlive({ pid: r.pid, host: r.host, procStart: r.procStart })) {
        local++;
        io.out(`not SLURM's: ${rec(rp)} ${job.stage.name} runs under ${describeHolder({ pid: r.pid, host: r.host, startedAt: r.startedAt ?? '?' })}; stop that ephys-make (Ctrl-C) to stop it\n`);
      }
    }
  }
  if (!targets.length) {
    io.out(`nothing to cancel: no job${o.targets.length ? ` of ${o.targets.join(', ')}` : ''} is queued or running on SLURM\n`);
    return 0;
  }
  const err = await cancelSlurmJobs(targets.map((t) => t.jobId), io.env);
  if (err) { io.err(`ephys-make cancel: ${err}\n`); return 1; }
  const why = `cancelled by ephys-make cancel (${os.userInfo().username} on ${os.hostname()})`;
  const now = new Date().toISOString();
  const byRecording = new Map<RecordingPlan, typeof targets>();
  for (const t of targets) byRecording.set(t.rp, [...(byRecording.get(t.rp) ?? []), t]);
  for (const [rp, list] of byRecording) {
    updateState(rp.jobs[0].stateDir, (state) => {
      for (const t of list) {
        const r = state.jobs[t.stage];
        // The job may have written its own end meanwhile: a failure of its own (an exit status) stays.
        if (r?.slurm?.jobId !== t.jobId || r.status === 'done' || (r.status === 'failed' && !r.signal)) continue;
        state.jobs[t.stage] = { ...r, status: 'interrupted', stoppedBecause: why, endedAt: r.endedAt ?? now, slurm: { ...r.slurm, state: 'CANCELLED' } };
      }
    });
  }
  for (const t of targets) io.out(`cancel ${rec(t.rp)} ${t.stage}: SLURM job ${t.jobId} (was ${t.where})\n`);
  io.out(`${targets.length} SLURM job${targets.length === 1 ? '' : 's'} cancelled${local ? `; ${local} job${local === 1 ? '' : 's'} running outside SLURM left alone` : ''}\n`);
  return 0;
}

function rec(rp: RecordingPlan): string {
  return rp.recording.name;
}
