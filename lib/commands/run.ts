/** `ephys-make [all | STAGE...]`: plan, explain, run what is stale. */
import { engineOptions, printDiagnostics, type CliOptions } from './options.js';
import type { Io } from '../base/io.js';
import { loadAll, jobsFor, type Engine, type EngineOptions } from '../engine/planner.js';
import { discoverRecordings, type Recording } from '../engine/recordings.js';
import type { Pipeline } from '../engine/config.js';
import type { SetValue } from '../engine/inputJson.js';
import { fail, ok, type Diagnostic, type Result } from '../base/diagnostic.js';
import type { Job } from '../engine/job.js';
import type { Decision } from '../engine/plan.js';
import { describeReason } from '../engine/reason.js';
import type { Scheduler } from '../engine/scheduler.js';
import type { Emit } from '../engine/events.js';

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

/** Loaded only when something will run: a no-op run never pays for the scheduler and runners. */
async function schedulerFor(pipeline: Pipeline, replan: (recordingDir: string) => Map<string, Decision>, o: CliOptions, io: Io, emit: Emit): Promise<Scheduler> {
  const [{ Scheduler }, { Pools, defaultPoolDir }] = await Promise.all([import('../engine/scheduler.js'), import('../engine/pool.js')]);
  return new Scheduler({
    pipeline,
    maxJobs: o.jobs,
    keepGoing: o.keepGoing,
    pools: new Pools(defaultPoolDir(io.env), pipeline.resources),
    checksum: o.checksum,
    shuffle: o.shuffle || !!io.env.EPHYS_MAKE_SHUFFLE,
    waitForLocks: o.wait,
    env: io.env,
    emit,
    replan,
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

/**
 * Plan recording by recording, keeping only recordings with work: a no-op run over thousands of
 * recordings then holds one recording's jobs at a time.
 */
export interface PlannedRun {
  engines: Map<string, Engine>;
  toRun: Array<{ job: Job; reason: string }>;
  fresh: Job[];
  counts: ReturnType<typeof planCounts>;
  blockedJobs: Array<{ job: Job; path: string }>;
}

export function planRecordings(base: Omit<Engine, 'jobs' | 'byRecording' | 'plan' | 'recordings'> & { sets: SetValue[] }, recordings: Recording[], opts: EngineOptions,
  onRecording: (engine: Engine, decisions: Map<string, Decision>) => void, keepJobs = true): Result<PlannedRun> {
  const diags: Diagnostic[] = [];
  const run: PlannedRun = { engines: new Map(), toRun: [], fresh: [], counts: { type: 'plan', total: 0, toRun: 0, upToDate: 0, blocked: 0 }, blockedJobs: [] };
  for (const rec of recordings) {
    const e = jobsFor(base.pipeline, base.graph, base.stageNames, base.sets, [rec], opts);
    if (!e.ok) { diags.push(...e.diagnostics); continue; }
    const engine = e.value;
    const decisions = engine.plan();
    const c = planCounts(engine, decisions);
    run.counts.total += c.total; run.counts.toRun += c.toRun; run.counts.upToDate += c.upToDate; run.counts.blocked += c.blocked;
    if (diags.length) continue;
    onRecording(engine, decisions);
    if (keepJobs && (c.toRun || c.blocked)) {
      run.engines.set(rec.dir, engine);
      run.toRun.push(...runnable(engine, decisions));
      for (const job of engine.jobs) {
        const d = decisions.get(job.id)!;
        if (!d.run && 'fresh' in d) run.fresh.push(job);
        if (!d.run && 'blocked' in d) run.blockedJobs.push({ job, path: d.blocked.path });
      }
    }
  }
  return diags.length ? fail(...diags) : ok(run);
}

export async function run(o: CliOptions, io: Io): Promise<number> {
  const opts = engineOptions(o, io);
  const base = loadAll(opts);
  if (!base.ok) return printDiagnostics(io, base.diagnostics);
  const recordings = discoverRecordings(base.value.pipeline, { root: opts.root, dirs: opts.dirs, cwd: opts.cwd });
  if (!recordings.ok) return printDiagnostics(io, recordings.diagnostics);

  const adoptions: Job[][] = [];
  const planned = planRecordings(base.value, recordings.value, opts, (engine, decisions) => {
    if (o.dryRun || o.explain) io.out(explainLines(engine, decisions, o.dryRun ? 'would run ' : 'run '));
    const adopted = engine.jobs.filter((job) => { const d = decisions.get(job.id)!; return !d.run && 'fresh' in d && d.fresh.kind === 'adopted'; });
    if (adopted.length && !o.dryRun) adoptions.push(adopted);
  }, !o.dryRun);
  if (!planned.ok) return printDiagnostics(io, planned.diagnostics);
  const { counts, engines, toRun, fresh, blockedJobs } = planned.value;
  if (o.dryRun) {
    io.out(counts.toRun === 0 && counts.blocked === 0 ? `nothing to do: ${counts.total} jobs up to date\n` : `${counts.toRun} of ${counts.total} jobs would run${counts.blocked ? `, ${counts.blocked} cannot run` : ''}\n`);
    return counts.blocked ? 1 : 0;
  }
  const { makeReporter } = await import('../report/reporter.js');
  if (!toRun.length && !blockedJobs.length && !adoptions.length) {
    const reporter = makeReporter(io);
    reporter.emit(counts);
    reporter.close();
    return 0;
  }
  const { writeAdoptionRecords } = await import('../engine/execute.js');
  const reporter = makeReporter(io);
  const emit: Emit = reporter.emit;
  for (const adopted of adoptions) {
    if (writeAdoptionRecords(adopted, o.checksum)) {
      for (const job of adopted) emit({ type: 'job-skipped', job, why: 'adopted', detail: 'outputs newer than inputs; record written' });
    }
  }
  emit(counts);
  for (const b of blockedJobs) emit({ type: 'job-skipped', job: b.job, why: 'blocked', detail: `input missing: ${b.path} (no stage makes it)` });
  const scheduler = await schedulerFor(base.value.pipeline, (dir) => engines.get(dir)!.plan(), o, io, emit);

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
