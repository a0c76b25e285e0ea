/**
 * What SLURM says about some job ids: one squeue call for all of them (finished jobs included while
 * slurmctld still holds them, MinJobAge), then sacct for the ones it has forgotten, where the
 * cluster keeps accounting.
 */
import { readTail } from '../../base/fileTail.js';
import { callError, callSlurm } from './slurmCli.js';

export interface SlurmJobInfo {
  jobId: string;
  /** PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, ... */
  state: string;
  /** Why it pends or how it ended (Dependency, Resources, DependencyNeverSatisfied, TimeLimit, ...). */
  reason: string;
  node?: string;
}

export type SlurmView =
  | { ok: true; jobs: Map<string, SlurmJobInfo> }
  | { ok: false; error: string };

/** States in which a job may still run (or is running). Everything else is an end. */
const activeStates = new Set([
  'PENDING', 'RUNNING', 'SUSPENDED', 'COMPLETING', 'CONFIGURING', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED',
  'RESIZING', 'SIGNALING', 'STAGE_OUT', 'STOPPED', 'RESV_DEL_HOLD',
]);

export function isActive(state: string): boolean {
  return activeStates.has(state);
}

/** A long id list goes in several calls: command lines have limits. */
const idsPerCall = 1000;

export async function querySlurm(ids: string[], env: NodeJS.ProcessEnv): Promise<SlurmView> {
  const jobs = new Map<string, SlurmJobInfo>();
  const unique = [...new Set(ids)];
  for (let i = 0; i < unique.length; i += idsPerCall) {
    const chunk = unique.slice(i, i + idsPerCall);
    const q = await callSlurm('squeue', ['--noheader', '--states=all', `--jobs=${chunk.join(',')}`, '--format=%i|%T|%r|%N'], env);
    if (!q.ok) {
      // squeue fails when it knows none of the ids: that is an answer, not an error.
      if (/invalid job id/i.test(q.stderr)) continue;
      return { ok: false, error: callError('squeue', q) };
    }
    for (const line of q.stdout.split('\n')) {
      const [jobId, state, reason, node] = line.trim().split('|');
      if (!jobId || !state) continue;
      jobs.set(jobId, { jobId, state, reason: reason ?? '', node: node && node !== '(null)' ? node : undefined });
    }
  }
  const forgotten = unique.filter((id) => !jobs.has(id));
  if (forgotten.length) await askAccounting(forgotten, jobs, env);
  return { ok: true, jobs };
}

/**
 * sacct, where the cluster keeps accounting; without slurmdbd it fails, and the cluster's job
 * completion file (JobCompType=jobcomp/filetxt), when readable, is the last place to look.
 */
async function askAccounting(ids: string[], jobs: Map<string, SlurmJobInfo>, env: NodeJS.ProcessEnv): Promise<void> {
  for (let i = 0; i < ids.length; i += idsPerCall) {
    const chunk = ids.slice(i, i + idsPerCall);
    const a = await callSlurm('sacct', ['--noheader', '--parsable2', '--allocations', `--jobs=${chunk.join(',')}`, '--format=JobIDRaw,State,NodeList'], env);
    if (!a.ok) return askJobCompletionFile(ids, jobs, env);
    for (const line of a.stdout.split('\n')) {
      const [jobId, stateText, node] = line.trim().split('|');
      if (!jobId || !stateText) continue;
      // "CANCELLED by 1234": the state is the first word.
      const state = stateText.split(' ')[0];
      jobs.set(jobId, { jobId, state, reason: '', node: node && node !== 'None assigned' ? node : undefined });
    }
  }
}

/** Jobs end in the completion file in order: its tail holds the recent ones. */
const jobCompTailBytes = 32 << 20;

async function askJobCompletionFile(ids: string[], jobs: Map<string, SlurmJobInfo>, env: NodeJS.ProcessEnv): Promise<void> {
  const config = await callSlurm('scontrol', ['show', 'config'], env);
  if (!config.ok || !/^JobCompType\s*=\s*jobcomp\/filetxt\s*$/m.test(config.stdout)) return;
  const file = /^JobCompLoc\s*=\s*(.+?)\s*$/m.exec(config.stdout)?.[1];
  if (!file) return;
  let text: string;
  try {
    text = readTail(file, jobCompTailBytes).text;
  } catch {
    return;
  }
  const wanted = new Set(ids);
  // JobId=12 UserId=... GroupId=... Name=<any text> JobState=CANCELLED Partition=... NodeList=n07 ...
  for (const line of text.split('\n')) {
    const m = /^JobId=(\d+) .*? Name=.* JobState=([A-Z_]+) Partition=.*? NodeList=(\S+)/.exec(line);
    if (!m || !wanted.has(m[1])) continue;
    jobs.set(m[1], { jobId: m[1], state: m[2], reason: '', node: m[3] !== '(null)' ? m[3] : undefined });
  }
}

/** scancel a list of job ids (one call); ids SLURM no longer knows are not an error. */
export async function cancelSlurmJobs(ids: string[], env: NodeJS.ProcessEnv): Promise<string | undefined> {
  for (let i = 0; i < ids.length; i += idsPerCall) {
    const c = await callSlurm('scancel', ids.slice(i, i + idsPerCall), env);
    if (!c.ok && !/invalid job id|already completing or completed/i.test(c.stderr)) return callError('scancel', c);
  }
  return undefined;
}
