/**
 * A run's plan on more than one core. What a no-op run spends its time on is checking that
 * recordings need nothing at all (every job up to date by its record, no record to write); worker
 * threads (quietWorker.ts) check part of the recordings while this thread plans the rest in full,
 * and only the recordings a worker cannot vouch for are planned again here. A no-op over a
 * thousand recordings then takes about half the time on two cores; a run with work everywhere
 * costs what it did on one (the workers' share is planned again, while they ran beside).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openPlanner, planRun, type PlannedRun, type Planner, type PlannerOptions, type RecordingPlan } from './planner.js';
import type { Decision } from './plan.js';
import type { Recording } from './recordings.js';
import { WorkerPool, type TaskServer } from '../base/workerPool.js';
import { packageRoot } from '../base/paths.js';

export interface QuietTask { recordings: Recording[] }
/** Folders of the recordings that need nothing, and how many jobs they hold. */
export interface QuietResult { quiet: string[]; jobs: number }

/** The number of jobs of a recording that needs nothing, else undefined. */
export function quietJobs(planner: Planner, rec: Recording): number | undefined {
  const rp = planner.jobsOf(rec);
  if (!rp.ok) return undefined;
  const decisions = rp.value.plan();
  for (const job of rp.value.jobs) {
    const d = decisions.get(job.id)!;
    // Adopted, confirmed or re-keyed jobs are up to date but have a record to write.
    if (d.run || !('fresh' in d) || d.fresh.kind !== 'up-to-date' || !job.fromRecord) return undefined;
  }
  return rp.value.jobs.length;
}

export const serveQuietCheck: TaskServer<PlannerOptions, QuietTask, QuietResult> = (options) => {
  const opened = openPlanner(options);
  return {
    run({ recordings }) {
      // A planner that cannot open here vouches for nothing: the other thread plans them all.
      if (!opened.ok) return { quiet: [], jobs: 0 };
      const quiet: string[] = [];
      let jobs = 0;
      for (const rec of recordings) {
        const n = quietJobs(opened.value, rec);
        if (n !== undefined) { quiet.push(rec.dir); jobs += n; }
      }
      return { quiet, jobs };
    },
  };
};

/** Below this many recordings a thread's start-up costs more than it saves. */
const minRecordings = 200;

/** The worker file: bundled beside cli.js when built so, else the compiled module beside this one. */
function workerScript(): string {
  const bundled = path.join(packageRoot, 'dist', 'bundle', 'engine', 'quietWorker.js');
  return fs.existsSync(bundled) ? bundled : fileURLToPath(new URL('./quietWorker.js', import.meta.url));
}

/** Threads to use beside this one: EPHYS_MAKE_PLAN_THREADS, else the cores there are, up to 3. */
export function planThreads(env: NodeJS.ProcessEnv): number {
  const set = env.EPHYS_MAKE_PLAN_THREADS;
  if (set !== undefined && /^\d+$/.test(set)) return Number(set);
  return Math.min(3, os.availableParallelism() - 1);
}

/** planRun (planner.ts), with recordings that need nothing found by `threads` worker threads too. */
export async function planRunParallel(planner: Planner, recordings: Recording[], seen: (rp: RecordingPlan, decisions: Map<string, Decision>) => void, keep: boolean, threads: number): Promise<PlannedRun> {
  if (threads < 1 || recordings.length < minRecordings) return planRun(planner, recordings, seen, keep);
  // This thread plans the first share itself (so output keeps the recordings' order); the
  // workers check the rest in one slice each.
  const share = Math.ceil(recordings.length / (threads + 1));
  const mine = recordings.slice(0, share);
  const slices: Recording[][] = [];
  for (let i = share; i < recordings.length; i += share) slices.push(recordings.slice(i, i + share));
  const pool = new WorkerPool<PlannerOptions, QuietTask, QuietResult>({
    name: 'planning', script: workerScript(), server: serveQuietCheck, setup: planner.options, workers: slices.length,
  });
  const checked = Promise.all(slices.map((s, worker) => pool.run({ recordings: s }, { worker })))
    .catch(() => [] as QuietResult[]);
  const first = planRun(planner, mine, seen, keep);
  const results = await checked;
  void pool.close();
  const quiet = new Set(results.flatMap((r) => r.quiet));
  const rest = planRun(planner, recordings.slice(share).filter((r) => !quiet.has(r.dir)), seen, keep);
  const quietJobCount = results.reduce((n, r) => n + r.jobs, 0);
  return merge(first, rest, quietJobCount);
}

function merge(a: PlannedRun, b: PlannedRun, quietJobs: number): PlannedRun {
  const counts = { ...a.counts };
  counts.total += b.counts.total + quietJobs;
  counts.upToDate += b.counts.upToDate + quietJobs;
  counts.toRun += b.counts.toRun;
  counts.blocked += b.counts.blocked;
  if (b.counts.inFlight) counts.inFlight = (counts.inFlight ?? 0) + b.counts.inFlight;
  return {
    plans: new Map([...a.plans, ...b.plans]),
    work: {
      toRun: [...a.work.toRun, ...b.work.toRun], fresh: [...a.work.fresh, ...b.work.fresh], adopted: [...a.work.adopted, ...b.work.adopted],
      rekey: [...a.work.rekey, ...b.work.rekey], confirmed: [...a.work.confirmed, ...b.work.confirmed],
      blocked: [...a.work.blocked, ...b.work.blocked], inFlight: [...a.work.inFlight, ...b.work.inFlight],
    },
    counts,
    unplanned: [...a.unplanned, ...b.unplanned],
  };
}
