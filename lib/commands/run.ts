/** `ephys-make [all | STAGE...]`: plan, explain, run what is stale. */
import { engineOptions, printDiagnostics, type CliOptions } from './options.js';
import type { Io } from '../base/io.js';
import { openPlanner, planRun, workOf, type RecordingPlan } from '../engine/planner.js';
import type { Job } from '../engine/job.js';
import type { Decision } from '../engine/plan.js';
import { describeReason } from '../engine/reason.js';
import type { Scheduler } from '../engine/scheduler.js';
import type { Emit } from '../engine/events.js';

export function explainLines(rp: RecordingPlan, decisions: Map<string, Decision>, prefix: string): string {
  let out = '';
  for (const job of rp.jobs) {
    const d = decisions.get(job.id)!;
    if (d.run) out += `${prefix}${job.recording.name} ${job.stage.name}: ${describeReason(d.reason)}\n`;
    else if ('blocked' in d) out += `cannot run ${job.recording.name} ${job.stage.name}: input missing: ${d.blocked.path} (no stage makes it)\n`;
  }
  return out;
}

/** Loaded only when something will run: a no-op run never pays for the scheduler and runners. */
export async function schedulerFor(o: CliOptions, io: Io, resources: Record<string, number>, replan: (recordingDir: string) => Map<string, Decision>, emit: Emit, keepGoing = o.keepGoing): Promise<Scheduler> {
  const [{ Scheduler }, { Pools, defaultPoolDir }, { localExecutor }] = await Promise.all([import('../engine/scheduler.js'), import('../engine/pool.js'), import('../engine/lifecycle.js')]);
  return new Scheduler({
    executor: localExecutor(o.checksum),
    maxJobs: o.jobs,
    keepGoing,
    pools: new Pools(defaultPoolDir(io.env), resources),
    shuffle: o.shuffle || !!io.env.EPHYS_MAKE_SHUFFLE,
    waitForLocks: o.wait,
    env: io.env,
    emit,
    replan,
  });
}

export async function run(o: CliOptions, io: Io): Promise<number> {
  const opened = openPlanner(engineOptions(o, io));
  if (!opened.ok) return printDiagnostics(io, opened.diagnostics);
  const planner = opened.value;
  const recordings = planner.discover();
  if (!recordings.ok) return printDiagnostics(io, recordings.diagnostics);

  const adoptions: Job[][] = [];
  const renewals: Job[][] = [];
  const planned = planRun(planner, recordings.value, (rp, decisions) => {
    if (o.dryRun || o.explain) io.out(explainLines(rp, decisions, o.dryRun ? 'would run ' : 'run '));
    if (o.dryRun) return;
    const { adopted, rekey } = workOf(rp, decisions);
    if (adopted.length) adoptions.push(adopted);
    if (rekey.length) renewals.push(rekey);
  }, !o.dryRun);
  if (!planned.ok) return printDiagnostics(io, planned.diagnostics);
  const { counts, plans, work } = planned.value;
  const { toRun, fresh, blocked: blockedJobs } = work;
  if (o.dryRun) {
    io.out(counts.toRun === 0 && counts.blocked === 0 ? `nothing to do: ${counts.total} jobs up to date\n` : `${counts.toRun} of ${counts.total} jobs would run${counts.blocked ? `, ${counts.blocked} cannot run` : ''}\n`);
    return counts.blocked ? 1 : 0;
  }
  if (renewals.length) {
    const { renewKeys } = await import('../engine/lifecycle.js');
    for (const jobs of renewals) renewKeys(jobs);
  }
  const { makeReporter } = await import('../report/reporter.js');
  if (!toRun.length && !blockedJobs.length && !adoptions.length) {
    const reporter = makeReporter(io);
    reporter.emit(counts);
    reporter.close();
    return 0;
  }
  const { adoptJobs } = await import('../engine/lifecycle.js');
  const reporter = makeReporter(io);
  const emit: Emit = reporter.emit;
  for (const adopted of adoptions) {
    if (adoptJobs(adopted, o.checksum)) {
      for (const job of adopted) emit({ type: 'job-skipped', job, why: 'adopted', detail: 'outputs newer than inputs; record written' });
    }
  }
  emit(counts);
  for (const b of blockedJobs) emit({ type: 'job-skipped', job: b.job, why: 'blocked', detail: `input missing: ${b.path} (no stage makes it)` });
  const scheduler = await schedulerFor(o, io, planner.pipeline.resources, (dir) => plans.get(dir)!.plan(), emit);

  let stoppedBy: string | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stoppedBy) return;
    stoppedBy = sig;
    emit({ type: 'stopping', signal: sig });
    scheduler.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    scheduler.add(blockedJobs.length && !o.keepGoing ? [] : toRun, fresh);
    const summary = await scheduler.idle();
    const failed = summary.failed + blockedJobs.length;
    if (summary.done || failed) emit({ type: 'message', level: 'info', text: `${summary.done} job${summary.done === 1 ? '' : 's'} done, ${failed} failed${summary.skipped ? `, ${summary.skipped} not run` : ''}` });
    if (stoppedBy) return 130;
    return failed ? 1 : 0;
  } finally {
    reporter.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
