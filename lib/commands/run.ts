/** `ephys-make [all | STAGE...]`: plan, explain, run what is stale. */
import type { CliOptions } from '../cli.js';
import { printDiagnostics } from '../cli.js';
import type { Io } from '../io.js';
import { openEngine, type Engine } from '../engine.js';
import type { Job } from '../job.js';
import type { Decision } from '../plan.js';
import { describeReason } from '../reason.js';
import { writeAdoptionRecord } from '../execute.js';
import { Scheduler } from '../scheduler.js';
import { Pools, defaultPoolDir } from '../pool.js';
import { makeReporter } from '../report/reporter.js';
import type { Emit } from '../events.js';

export function engineOptions(o: CliOptions, io: Io) {
  return {
    file: o.file, cwd: io.cwd, root: o.root, dirs: o.dirs, targets: o.targets, sets: o.sets,
    checksum: o.checksum, forceAll: o.always, forceStages: o.force,
  };
}

export function explainLines(engine: Engine, decisions: Map<string, Decision>, prefix: string): string {
  let out = '';
  for (const job of engine.jobs) {
    const d = decisions.get(job.id)!;
    if (d.run) out += `${prefix}${job.recording.name} ${job.stage.name}: ${describeReason(d.reason)}\n`;
    else if ('blocked' in d) out += `cannot run ${job.recording.name} ${job.stage.name}: input missing: ${d.blocked.path} (no stage makes it)\n`;
  }
  return out;
}

export function planCounts(engine: Engine, decisions: Map<string, Decision>) {
  let toRun = 0, blocked = 0, upToDate = 0;
  for (const d of decisions.values()) {
    if (d.run) toRun++; else if ('blocked' in d) blocked++; else upToDate++;
  }
  return { type: 'plan' as const, total: engine.jobs.length, toRun, upToDate, blocked };
}

/** Jobs that cannot run fail now; their dependents are not tried. Returns how many failed. */
export function reportBlocked(engine: Engine, decisions: Map<string, Decision>, emit: Emit): number {
  let n = 0;
  for (const job of engine.jobs) {
    const d = decisions.get(job.id)!;
    if (!d.run && 'blocked' in d) {
      n++;
      emit({ type: 'job-skipped', job, why: 'blocked', detail: `input missing: ${d.blocked.path} (no stage makes it)` });
    }
  }
  return n;
}

export function schedulerFor(engine: Engine, o: CliOptions, io: Io, emit: Emit): Scheduler {
  return new Scheduler({
    pipeline: engine.pipeline,
    maxJobs: o.jobs,
    keepGoing: o.keepGoing,
    pools: new Pools(defaultPoolDir(io.env), engine.pipeline.resources),
    checksum: o.checksum,
    shuffle: o.shuffle || !!io.env.EPHYS_MAKE_SHUFFLE,
    waitForLocks: o.wait,
    env: io.env,
    emit,
    replan: (dir) => engine.plan(engine.byRecording.get(dir) ?? []),
  });
}

/** Jobs to queue: stale ones whose upstream is not blocked. */
export function runnable(engine: Engine, decisions: Map<string, Decision>): Array<{ job: Job; reason: string }> {
  const blocked = new Set<string>();
  const out: Array<{ job: Job; reason: string }> = [];
  for (const job of engine.jobs) {
    const d = decisions.get(job.id)!;
    if (!d.run && 'blocked' in d) { blocked.add(job.id); continue; }
    if (job.deps.some((x) => blocked.has(x.id))) { blocked.add(job.id); continue; }
    if (d.run) out.push({ job, reason: describeReason(d.reason) });
  }
  return out;
}

export async function run(o: CliOptions, io: Io): Promise<number> {
  const opened = openEngine(engineOptions(o, io));
  if (!opened.ok) return printDiagnostics(io, opened.diagnostics);
  const engine = opened.value;
  const decisions = engine.plan();

  if (o.dryRun) {
    io.out(explainLines(engine, decisions, 'would run '));
    const c = planCounts(engine, decisions);
    io.out(c.toRun === 0 && c.blocked === 0 ? `nothing to do: ${c.total} jobs up to date\n` : `${c.toRun} of ${c.total} jobs would run${c.blocked ? `, ${c.blocked} cannot run` : ''}\n`);
    return c.blocked ? 1 : 0;
  }
  if (o.explain) io.out(explainLines(engine, decisions, 'run '));

  const reporter = makeReporter(io);
  const emit = reporter.emit;
  const fresh: Job[] = [];
  for (const job of engine.jobs) {
    const d = decisions.get(job.id)!;
    if (!d.run && 'fresh' in d) {
      fresh.push(job);
      if (d.fresh.kind === 'adopted') {
        writeAdoptionRecord(job, o.checksum);
        emit({ type: 'job-skipped', job, why: 'adopted', detail: 'outputs newer than inputs; record written' });
      }
    }
  }
  emit(planCounts(engine, decisions));
  const blocked = reportBlocked(engine, decisions, emit);
  const scheduler = schedulerFor(engine, o, io, emit);

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
    scheduler.add(blocked && !o.keepGoing ? [] : runnable(engine, decisions), fresh);
    const summary = await scheduler.idle();
    const failed = summary.failed + blocked;
    if (summary.done || failed) emit({ type: 'message', level: 'info', text: `${summary.done} job${summary.done === 1 ? '' : 's'} done, ${failed} failed${summary.skipped ? `, ${summary.skipped} not run` : ''}` });
    if (stoppedBy) return 130;
    return failed ? 1 : 0;
  } finally {
    reporter.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
