/**
 * One job's sbatch argument vector. The batch script is a fixed two-line file (`exec "$@"`); what
 * runs on the node comes after it as separate arguments, which SLURM stores and passes as they are,
 * so no path is ever part of a shell string.
 */
import path from 'node:path';
import type { Pipeline } from '../config.js';
import type { Job } from '../job.js';
import { packageRoot } from '../../base/paths.js';

/** Kept beside the sources (tsc copies only .ts): sbatch reads it at submission, nodes never do. */
export const batchScript = path.join(packageRoot, 'lib', 'engine', 'slurm', 'job.sh');

/** SLURM's job name: `<recording>:<stage>`, what squeue and the cluster's accounting show. */
export function slurmJobName(job: Job): string {
  return `${job.recording.name}:${job.stage.name}`;
}

/** GPUs a job asks SLURM for: its `slurm.gpus`, else what it asks of the `gpu` pool. */
export function gpusOf(job: Job): number {
  return job.stage.slurm.gpus ?? job.stage.resources.gpu ?? 0;
}

export interface SbatchInput {
  /** SLURM job ids this job needs to have succeeded (its upstream jobs, submitted or in flight). */
  afterOk: string[];
  /** SLURM job ids this job waits to have ended, whatever their outcome (pool limits). */
  afterAny: string[];
  /** What the node runs: `node bin/ephys-make.js run-job ...`. */
  command: string[];
}

export function sbatchArgs(job: Job, pipeline: Pipeline, o: SbatchInput): string[] {
  const s = job.stage.slurm;
  const d = pipeline.slurm;
  const args = [
    '--parsable',
    '--job-name', slurmJobName(job),
    // Appended: the job's own record-keeping writes into the same log.txt through its own handle.
    '--output', job.logPath, '--open-mode=append',
    '--chdir', job.recording.dir,
    // Dependents of a failed job are cancelled, not left pending forever, whatever the site's default.
    '--kill-on-invalid-dep=yes',
  ];
  const partition = s.partition ?? d.partition;
  if (partition) args.push('--partition', partition);
  if (d.account) args.push('--account', d.account);
  if (d.qos) args.push('--qos', d.qos);
  if (s.cpus) args.push('--cpus-per-task', String(s.cpus));
  if (s.mem) args.push('--mem', s.mem);
  if (s.time) args.push('--time', s.time);
  const gpus = gpusOf(job);
  if (gpus > 0) args.push(`--gres=gpu:${gpus}`);
  const deps: string[] = [];
  if (o.afterOk.length) deps.push(`afterok:${o.afterOk.join(':')}`);
  if (o.afterAny.length) deps.push(`afterany:${o.afterAny.join(':')}`);
  if (deps.length) args.push(`--dependency=${deps.join(',')}`);
  // The shared settings first, the stage's after: for sbatch the last of an option wins.
  args.push(...d.extraArgs, ...s.extraArgs);
  args.push(batchScript, ...o.command);
  return args;
}
