/**
 * What `status` shows of jobs handed to SLURM: records still open are settled against SLURM's
 * view first (one squeue for the whole root), then each job's cell and line say where it is:
 * queued (and what it waits for), running (on which node), cancelled (and why), failed.
 */
import type { Job } from '../job.js';
import type { Planner } from '../planner.js';
import type { Recording } from '../recordings.js';
import { stateDir } from '../recordings.js';
import { isInFlight, readState, type JobRecord } from '../record.js';
import { cancelSlurmJobs, querySlurm, type SlurmJobInfo } from './slurmView.js';
import { hasNews, openSlurmIds, reconcileRecording } from './reconcile.js';

export interface SlurmCell { cell: 'queued' | 'running' | 'failed' | 'cancelled'; detail: string }

export interface SlurmStatus {
  error?: string;
  describe(rec: JobRecord | undefined, job: Job): SlurmCell | undefined;
}

const pendingWords: Record<string, string> = {
  Dependency: 'waiting for its upstream jobs',
  Resources: 'waiting for resources',
  Priority: 'waiting behind higher-priority jobs',
  BeginTime: 'waiting for its start time',
  JobHeldUser: 'held (scontrol release to let it run)',
  JobHeldAdmin: 'held by an administrator',
  ReqNodeNotAvail: 'waiting for a node that is not available',
  PartitionDown: 'its partition is down',
  QOSMaxJobsPerUserLimit: 'waiting: QOS job limit reached',
};

/** undefined when no record under these recordings was ever handed to SLURM. */
export async function slurmStatus(planner: Planner, recordings: Recording[], env: NodeJS.ProcessEnv): Promise<SlurmStatus | undefined> {
  const open: Array<{ rec: Recording; ids: string[] }> = [];
  const ids: string[] = [];
  let any = false;
  for (const rec of recordings) {
    const state = readState(stateDir(rec));
    for (const r of Object.values(state.jobs)) if (r.slurm) { any = true; break; }
    const found = openSlurmIds(state);
    if (found.length) { open.push({ rec, ids: found }); ids.push(...found); }
  }
  if (!any) return undefined;
  let view = new Map<string, SlurmJobInfo>();
  let error: string | undefined;
  if (ids.length) {
    const answer = await querySlurm(ids, env);
    if (answer.ok) {
      view = answer.jobs;
      const hopeless: string[] = [];
      for (const { rec, ids: mine } of open) {
        if (!hasNews(mine, view)) continue;
        const rp = planner.jobsOf(rec);
        if (!rp.ok || !rp.value.jobs.length) continue;
        hopeless.push(...reconcileRecording(rp.value.jobs[0].stateDir, rp.value.jobs, view).hopeless);
      }
      if (hopeless.length) error = await cancelSlurmJobs(hopeless, env);
    } else {
      error = answer.error;
    }
  }
  return {
    error,
    describe(rec, job) {
      if (!rec?.slurm) return undefined;
      const id = rec.slurm.jobId;
      if (isInFlight(rec)) {
        const info = view.get(id);
        if (rec.status === 'running' || info?.state === 'RUNNING') {
          const node = rec.slurm.node ?? info?.node;
          return { cell: 'running', detail: `running${node ? ` on ${node}` : ''} (SLURM job ${id}${rec.startedAt ? ` since ${rec.startedAt}` : ''})` };
        }
        const waiting = info?.reason && info.reason !== 'None' ? `, ${pendingWords[info.reason] ?? info.reason}` : '';
        return { cell: 'queued', detail: `queued on SLURM (job ${id}${waiting})` };
      }
      if (rec.status === 'interrupted' && rec.slurm.state === 'CANCELLED') {
        return { cell: 'cancelled', detail: `cancelled: ${rec.stoppedBecause ?? `SLURM job ${id} was cancelled`}` };
      }
      if (rec.status === 'failed') {
        const how = rec.stoppedBecause ?? (rec.signal ? `killed by ${rec.signal}` : rec.exitCode != null ? `exit ${rec.exitCode}` : 'failed');
        return { cell: 'failed', detail: `last run failed on SLURM (job ${id}${rec.slurm.node ? ` on ${rec.slurm.node}` : ''}): ${how}; log: ${job.logPath}` };
      }
      return undefined;
    },
  };
}
