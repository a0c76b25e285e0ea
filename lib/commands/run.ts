/** `ephys-make [all | STAGE...]`: plan, explain, run what is stale. */
import path from 'node:path';
import { engineOptions, printDiagnostics, type CliOptions } from './options.js';
import type { Io } from '../base/io.js';
import { isSystemError } from '../base/systemError.js';
import type { PlanCounts, RecordingPlan } from '../engine/planner.js';
import { pipelinePath } from '../engine/pipelinePath.js';
import { ListingCache } from '../engine/listingCache.js';
import { checkIndex, definitionWitness, indexPath, nextEntries, optionsKey, writeIndex, type Entry } from '../engine/upToDateIndex.js';
import type { Job } from '../engine/job.js';
import type { Decision } from '../engine/plan.js';
import { describeBlocked, describeReason } from '../engine/reason.js';
import type { Scheduler } from '../engine/scheduler.js';
import type { Emit } from '../engine/events.js';

/** Said of a job whose files were found the same although not as recorded. */
export const confirmedDetail = 'same files at a new place or time (moved, copied with their times, or touched under --checksum); record updated';

export function explainLines(rp: RecordingPlan, decisions: Map<string, Decision>, prefix: string): string {
  let out = '';
  for (const job of rp.jobs) {
    const d = decisions.get(job.id)!;
    if (d.run) out += `${prefix}${job.recording.name} ${job.stage.name}: ${describeReason(d.reason)}\n`;
    else if ('blocked' in d) out += `cannot run ${job.recording.name} ${job.stage.name}: ${describeBlocked(d.blocked)}\n`;
    else if ('inFlight' in d) out += `on SLURM ${job.recording.name} ${job.stage.name}: ${d.inFlight.status} as job ${d.inFlight.slurmJobId}${d.inFlight.node ? ` on ${d.inFlight.node}` : ''}\n`;
  }
  return out;
}

/** A run that starts nothing: -n's closing line, or the reporter's ("nothing to do: ..."). */
async function sayCounts(o: CliOptions, io: Io, counts: PlanCounts): Promise<void> {
  if (o.dryRun) {
    io.out(counts.toRun === 0 && counts.blocked === 0 ? `nothing to do: ${counts.total} jobs up to date\n` : `${counts.toRun} of ${counts.total} jobs would run${counts.blocked ? `, ${counts.blocked} cannot run` : ''}\n`);
    return;
  }
  const { makeReporter } = await import('../report/reporter.js');
  const reporter = makeReporter(io);
  reporter.emit(counts);
  reporter.close();
}

function allUpToDate(decisions: Map<string, Decision>): boolean {
  if (!decisions.size) return false;
  for (const d of decisions.values()) if (d.run || !('fresh' in d) || d.fresh.kind !== 'up-to-date') return false;
  return true;
}

/** A plan SLURM may have more to say about: jobs still queued there, or ends it can explain. */
export function waitsForSlurm(decisions: Map<string, Decision>): boolean {
  for (const d of decisions.values()) {
    if (!d.run && 'inFlight' in d) return true;
  }
  return false;
}

/** Loaded only when something will run: a no-op run never pays for the scheduler and runners. */
export async function schedulerFor(o: CliOptions, io: Io, resources: Record<string, number>, replan: (recordingDir: string) => Map<string, Decision>, emit: Emit, keepGoing = o.keepGoing): Promise<Scheduler> {
  const [{ Scheduler }, { Pools, defaultPoolDir }, { localExecutor }] = await Promise.all([import('../engine/scheduler.js'), import('../engine/pool.js'), import('../engine/lifecycle.js')]);
  return new Scheduler({
    executor: localExecutor(o.checksum),
    maxJobs: o.jobs,
    keepGoing,
    pools: new Pools(defaultPoolDir(io.env), resources, !io.env.EPHYS_MAKE_POOL_DIR),
    shuffle: o.shuffle || !!io.env.EPHYS_MAKE_SHUFFLE,
    waitForLocks: o.wait,
    env: io.env,
    emit,
    replan,
  });
}

export async function run(o: CliOptions, io: Io): Promise<number> {
  const eo = engineOptions(o, io);
  const file = pipelinePath(eo);
  // Forced and checksum runs look at everything (records of jobs queued on SLURM never make an entry).
  const index = o.always || o.force?.length || o.checksum ? undefined
    : { options: optionsKey(eo.targets, eo.sets), before: definitionWitness(file) };
  const where = { root: eo.root, dirs: eo.dirs, cwd: eo.cwd };
  const quick = index && checkIndex(file, index.options, where);
  if (quick?.upToDate.size && o.explain) io.out(`${quick.upToDate.size} of ${quick.recordings.length} recordings unchanged since they were found up to date (${path.relative(io.cwd, indexPath(file))})\n`);
  if (quick && quick.recordings.length && quick.upToDate.size === quick.recordings.length) {
    let total = 0;
    for (const n of quick.upToDate.values()) total += n;
    await sayCounts(o, io, { type: 'plan', total, toRun: 0, upToDate: total, blocked: 0 });
    return 0;
  }
  // Loaded only now: a no-op the index answers never parses pipeline.yaml.
  const { openPlanner, planRun, recordsToWrite } = await import('../engine/planner.js');
  const opened = openPlanner(eo);
  if (!opened.ok) return printDiagnostics(io, opened.diagnostics);
  const planner = opened.value;
  const listings = quick?.listings ?? new ListingCache();
  const recordings = quick ? { ok: true as const, value: quick.recordings } : planner.discover(undefined, listings);
  if (!recordings.ok) return printDiagnostics(io, recordings.diagnostics);
  const witness = !!index && !o.dryRun;

  let adoptions: Job[][] = [];
  let renewals: Job[][] = [];
  let confirmations: Array<{ rp: RecordingPlan; jobs: Job[] }> = [];
  let explained: string[] = [];
  let slurmOpen: RecordingPlan[] = [];
  let vouched = new Map<string, Entry>();
  // -n prints a line per stale job: thousands of them go out in blocks, not one write each.
  let wouldRun = '';
  const planAll = () => {
    adoptions = []; renewals = []; confirmations = []; explained = []; slurmOpen = []; vouched = new Map();
    const planned = planRun(planner, recordings.value, (rp, decisions) => {
      if (o.dryRun) {
        wouldRun += explainLines(rp, decisions, 'would run ');
        if (wouldRun.length > 65536) { io.out(wouldRun); wouldRun = ''; }
      } else if (o.explain) explained.push(explainLines(rp, decisions, 'run '));
      if (o.dryRun) return;
      const { adopted, rekey, confirmed } = recordsToWrite(rp, decisions);
      if (adopted.length) adoptions.push(adopted);
      if (rekey.length) renewals.push(rekey);
      if (confirmed.length) confirmations.push({ rp, jobs: confirmed });
      if (waitsForSlurm(decisions)) slurmOpen.push(rp);
      if (witness && !adopted.length && !rekey.length && !confirmed.length && allUpToDate(decisions)) {
        const entry = rp.witness();
        if (entry) vouched.set(rp.recording.dir, entry);
      }
    }, { keep: !o.dryRun, upToDate: quick?.upToDate, witness });
    if (wouldRun) { io.out(wouldRun); wouldRun = ''; }
    return planned;
  };
  let planned = planAll();
  if (slurmOpen.length) {
    // Records of SLURM jobs: settle the ones that have ended, then decide again.
    const { reconcilePlans } = await import('../engine/slurm/reconcile.js');
    const settled = await reconcilePlans(slurmOpen, io.env);
    if (settled.error) io.err(`warning: cannot ask SLURM about queued jobs (${settled.error}); their records are taken as they are\n`);
    if (settled.changed.size) planned = planAll();
  }
  if (index && witness) {
    const entries = nextEntries(quick, recordings.value, vouched, !!eo.dirs?.length);
    const found = { options: where, listings, recordings: recordings.value };
    if (entries) writeIndex(file, { options: index.options, before: index.before, schemaFiles: planner.schemaFiles(), discovery: planner.pipeline, found }, entries);
  }
  for (const text of explained) io.out(text);
  const { counts, plans, work, unplanned } = planned;
  // Recordings that cannot be planned are reported first, then the others go on; exit 2 at the end.
  if (unplanned.length) {
    printDiagnostics(io, unplanned.flatMap((u) => u.diagnostics));
    if (unplanned.length === recordings.value.length) return 2;
  }
  const skippedLine = () => {
    if (unplanned.length) io.err(`ephys-make: ${unplanned.length} of ${recordings.value.length} recordings not processed (errors above): ${unplanned.slice(0, 5).map((u) => u.recording.name).join(', ')}${unplanned.length > 5 ? ', ...' : ''}\n`);
  };
  const { fresh, blocked: blockedJobs } = work;
  // Jobs whose upstream runs on SLURM wait for it: they go there after it, not here now.
  const toRun = work.toRun.filter((r) => !r.waitsFor);
  if (o.dryRun) {
    await sayCounts(o, io, counts);
    skippedLine();
    return unplanned.length ? 2 : counts.blocked ? 1 : 0;
  }
  if (renewals.length) {
    const { renewKeys } = await import('../engine/lifecycle.js');
    for (const jobs of renewals) {
      // Only saves rebuilding input JSONs next time: a full disk here costs nothing else.
      try { renewKeys(jobs); } catch (err) { if (!isSystemError(err)) throw err; }
    }
  }
  if ((o.executor ?? planner.pipeline.executor) === 'slurm') {
    const code = await (await import('./slurmRun.js')).submitRun(o, io, planner, planned, adoptions);
    skippedLine();
    return unplanned.length && code === 0 ? 2 : code;
  }
  if (!work.toRun.length && !blockedJobs.length && !adoptions.length && !confirmations.length) {
    await sayCounts(o, io, counts);
    skippedLine();
    return unplanned.length ? 2 : 0;
  }
  const [{ adoptJobs, refreshRecords }, { makeReporter }] = await Promise.all([import('../engine/lifecycle.js'), import('../report/reporter.js')]);
  const reporter = makeReporter(io);
  const emit: Emit = reporter.emit;
  for (const adopted of adoptions) {
    let written: boolean;
    try {
      written = adoptJobs(adopted, o.checksum);
    } catch (err) {
      // A full disk or a read-only folder: the outputs stay unrecorded and are looked at again next time.
      if (!isSystemError(err)) throw err;
      emit({ type: 'message', level: 'warn', text: `${adopted[0].recording.name}: outputs made without ephys-make not adopted: ${err.message}` });
      continue;
    }
    if (written) {
      for (const job of adopted) emit({ type: 'job-skipped', job, why: 'adopted', detail: 'outputs newer than inputs; record written' });
    }
  }
  for (const c of confirmations) {
    for (const job of refreshRecords(c.jobs, () => c.rp.plan(), o.checksum)) emit({ type: 'job-skipped', job, why: 'confirmed', detail: confirmedDetail });
  }
  emit(counts);
  for (const b of blockedJobs) emit({ type: 'job-skipped', job: b.job, why: 'blocked', detail: describeBlocked(b.blocked) });
  for (const w of work.toRun) if (w.waitsFor) emit({ type: 'job-skipped', job: w.job, why: 'in-flight', detail: `waits for ${w.waitsFor.job.stage.name}, queued on SLURM as job ${w.waitsFor.slurmJobId}` });
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
    skippedLine();
    return unplanned.length ? 2 : failed ? 1 : 0;
  } finally {
    reporter.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
