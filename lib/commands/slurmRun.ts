/**
 * `ephys-make [all | STAGE...] --executor slurm [--wait]` (or `executor: slurm` in pipeline.yaml):
 * submit the stale graph to SLURM at once and return; with --wait, follow it to the end with the
 * same progress line and events as a local run. Loaded only when SLURM is the executor.
 */
import path from 'node:path';
import type { CliOptions } from './options.js';
import type { Io } from '../base/io.js';
import { workOf, type Planner, type PlannedRun, type RecordingPlan } from '../engine/planner.js';
import type { Decision } from '../engine/plan.js';
import type { Job } from '../engine/job.js';
import type { Emit } from '../engine/events.js';
import { describeBlocked } from '../engine/reason.js';
import { binPath } from '../base/paths.js';
import { makeReporter } from '../report/reporter.js';
import { adoptJobs } from '../engine/lifecycle.js';
import { submitRecordings } from '../engine/slurm/submit.js';
import { followJobs } from '../engine/slurm/follow.js';

/** How often --wait looks at records and asks SLURM. */
const followPollMs = 500;

/** What a node runs for one job: this ephys-make, with this run's pipeline file, root and --set values. */
export function runJobCommand(o: CliOptions, io: Io, planner: Planner): (job: Job, reason: string) => string[] {
  const fixed = [
    '-f', planner.pipeline.file,
    ...(o.root ? [`--root=${path.resolve(io.cwd, o.root)}`] : []),
    ...o.sets.map((s) => `--set=${s}`),
    ...(o.checksum ? ['--checksum'] : []),
  ];
  return (job, reason) => [process.execPath, binPath, 'run-job', `--dir=${job.recording.dir}`, ...fixed, `--reason=${reason}`, '--', job.stage.name];
}

export async function submitRun(o: CliOptions, io: Io, planner: Planner, planned: PlannedRun, adoptions: Job[][]): Promise<number> {
  const { counts, plans, work } = planned;
  const reporter = makeReporter(io);
  const emit: Emit = reporter.emit;
  try {
    for (const adopted of adoptions) {
      if (adoptJobs(adopted, o.checksum)) {
        for (const job of adopted) emit({ type: 'job-skipped', job, why: 'adopted', detail: 'outputs newer than inputs; record written' });
      }
    }
    emit(counts);
    for (const b of work.blocked) emit({ type: 'job-skipped', job: b.job, why: 'blocked', detail: describeBlocked(b.blocked) });
    // As a local run: a job that cannot run stops the run unless -k.
    if (!work.toRun.length || (work.blocked.length && !o.keepGoing)) return work.blocked.length ? 1 : 0;

    const result = await submitRecordings([...plans.values()], {
      pipeline: planner.pipeline,
      stageOrder: planner.stages.map((s) => s.name),
      command: runJobCommand(o, io, planner),
      env: io.env,
      emit,
      waitForLocks: o.wait,
      inFlight: work.inFlight,
    });
    if (result.fatal) {
      emit({ type: 'message', level: 'warn', text: `nothing submitted: ${result.fatal} (or run here with --executor local)` });
      return 1;
    }
    for (const n of result.notSubmitted) emit({ type: 'job-finished', job: n.job, status: 'failed', seconds: 0, message: n.message });
    for (const b of result.blocked) emit({ type: 'job-skipped', job: b.job, why: 'blocked', detail: describeBlocked(b.blocked) });
    for (const f of result.inFlight) {
      if (!work.inFlight.some((w) => w.job.id === f.job.id)) emit({ type: 'job-skipped', job: f.job, why: 'in-flight', detail: `submitted meanwhile by another ephys-make (SLURM job ${f.slurmJobId})` });
    }
    const n = result.submitted.length;
    const already = counts.inFlight ?? 0;
    emit({ type: 'message', level: 'info', text: `${n} job${n === 1 ? '' : 's'} submitted to SLURM${already ? ` (${already} more already queued or running there)` : ''}${result.notSubmitted.length ? `, ${result.notSubmitted.length} could not be` : ''}${o.follow || !n ? '' : '; `ephys-make status` shows them, `ephys-make cancel` stops them'}` });
    const problems = result.notSubmitted.length + result.blocked.length + work.blocked.length;
    if (!o.follow || !n) return problems ? 1 : 0;

    let stop: () => void = () => {};
    const stopped = new Promise<void>((resolve) => { stop = resolve; });
    const onSignal = (sig: NodeJS.Signals) => { emit({ type: 'message', level: 'info', text: `${sig}: no longer following; the jobs go on on SLURM (\`ephys-make cancel\` stops them)` }); stop(); };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const summary = await followJobs(result.submitted, {
        env: io.env, emit, pollMs: followPollMs, stopped,
        recordingJobs: (dir) => plans.get(dir)?.jobs ?? [],
      });
      if (summary.stopped) return 130;
      emit({ type: 'message', level: 'info', text: `${summary.done} job${summary.done === 1 ? '' : 's'} done, ${summary.failed} failed${summary.notRun ? `, ${summary.notRun} not run` : ''}` });
      return summary.failed || summary.notRun || problems ? 1 : 0;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  } finally {
    reporter.close();
  }
}

/**
 * Watch: hand a ready recording's stale jobs to SLURM, after settling its SLURM records. `accept`
 * is the watch's say on which stale jobs may go (failed ones wait for a change). Returns how many
 * were submitted.
 */
export async function submitWatched(rp: RecordingPlan, o: CliOptions, io: Io, planner: Planner, emit: Emit, accept: (job: Job, decisions: Map<string, Decision>) => boolean): Promise<number> {
  const { reconcilePlans } = await import('../engine/slurm/reconcile.js');
  const settled = await reconcilePlans([rp], io.env);
  if (settled.error) emit({ type: 'message', level: 'warn', text: `cannot ask SLURM about ${rp.recording.name}'s jobs: ${settled.error}` });
  const work = workOf(rp, rp.plan());
  let decisions: Map<string, Decision> | undefined;
  const result = await submitRecordings([rp], {
    pipeline: planner.pipeline,
    stageOrder: planner.stages.map((s) => s.name),
    command: runJobCommand(o, io, planner),
    env: io.env,
    emit,
    waitForLocks: true,
    inFlight: work.inFlight,
    accept: (job) => accept(job, decisions ??= rp.plan()),
  });
  if (result.fatal) emit({ type: 'message', level: 'warn', text: `${rp.recording.name}: nothing submitted: ${result.fatal}` });
  for (const n of result.notSubmitted) emit({ type: 'job-finished', job: n.job, status: 'failed', seconds: 0, message: n.message });
  return result.submitted.length;
}
