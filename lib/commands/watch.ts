/**
 * `ephys-make watch [TARGET...] [--root R] [-j N] [--once]`: process recordings as they appear and
 * become ready, through the same scheduler, pools and locks as `ephys-make all`.
 *
 * The watcher (lib/engine/watch.ts) says when a recording is ready; here it is planned alone, its stale
 * jobs are queued, and what happened is reported and logged to `<root>/.ephys-make/watch.jsonl`.
 * Failures never stop the watch (it keeps going like -k), and a job that failed is not queued
 * again until something it depends on changes.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { engineOptions, printDiagnostics, type CliOptions } from './options.js';
import type { Io } from '../base/io.js';
import { pipelinePath } from '../engine/pipelinePath.js';
import { openPlanner, workOf, type Planner, type PlannerOptions, type RecordingPlan } from '../engine/planner.js';
import type { Pipeline } from '../engine/config.js';
import { discoverRecordings, markerDepth, type Recording } from '../engine/recordings.js';
import type { Job } from '../engine/job.js';
import type { Scheduler } from '../engine/scheduler.js';
import { adoptJobs, refreshRecords, renewKeys } from '../engine/lifecycle.js';
import { Pools, defaultPoolDir } from '../engine/pool.js';
import { makeReporter } from '../report/reporter.js';
import { openEventLog, type EventLog } from '../report/jsonl.js';
import type { EngineEvent } from '../engine/events.js';
import { formatDiagnostic, type Diagnostic } from '../base/diagnostic.js';
import { writeFileAtomic } from '../base/atomicFile.js';
import { statSignature } from '../base/signature.js';
import { RecordingWatcher, markerTail, type WatchRules } from '../engine/watch.js';
import { confirmedDetail, schedulerFor } from './run.js';
import { invocation } from './invocation.js';
import { isInFlight, readState } from '../engine/record.js';
import { isUnchangedSlurmFailure } from '../engine/slurm/reconcile.js';
import { describeBlocked } from '../engine/reason.js';

/** Outputs on another drive are not watched: a periodic rescan notices one deleted there. */
const rescanMs = Number(process.env.EPHYS_MAKE_RESCAN_SECONDS ?? 300) * 1000;
/** Editors save in several steps; the pipeline is read once they are done. */
const reloadDelayMs = 300;

export async function watch(o: CliOptions, io: Io): Promise<number> {
  const unsupported = o.dirs.length ? '--dir (watch follows a whole root; use --root)'
    : o.dryRun ? `-n (use \`${invocation(io)} -n\` to see what would run)`
    : o.always || o.force.length ? `-B/--force (run \`${invocation(io)} -B\` or \`--force\` once, then watch)` : undefined;
  if (unsupported) { io.err(`ephys-make watch: ${unsupported} is not supported\n`); return 2; }
  const eopts = engineOptions(o, io);
  const loaded = openPlanner(eopts);
  if (!loaded.ok) return printDiagnostics(io, loaded.diagnostics);
  const root = o.root ? path.resolve(io.cwd, o.root) : loaded.value.pipeline.recordings.root;
  if (!fs.existsSync(root)) {
    return printDiagnostics(io, [{ file: loaded.value.pipeline.file, message: `recordings root ${root} does not exist (set recordings.root in ${path.basename(loaded.value.pipeline.file)} or pass --root)` }]);
  }
  // --serve: the live page beside the watch, fed its progress events.
  const page = o.serve ? await (await import('./serve.js')).startServe(o, io) : undefined;
  if (typeof page === 'number') return page;
  try {
    const session = new WatchSession(o, io, eopts, loaded.value, root, page?.handle);
    await session.init();
    return await session.run();
  } finally {
    await page?.close();
  }
}

function rulesOf(p: Pipeline): WatchRules {
  const depth = markerDepth(p.recordings.match);
  return { settleMs: p.recordings.settleSeconds * 1000, when: p.recordings.when, markerTail: markerTail(p.recordings.match, depth), markerDepth: depth };
}

class WatchSession {
  private log: EventLog | undefined;
  private report: ReturnType<typeof makeReporter>;
  private scheduler!: Scheduler;
  private watcher: RecordingWatcher;
  private failures: FailedJobs;
  private recordings = new Map<string, Recording>();
  /** Each recording's jobs as last built (the scheduler's replan uses the same Job objects). */
  private plans = new Map<string, RecordingPlan>();
  /** Recordings whose jobs must be built again before the next plan (a file or the pipeline changed). */
  private stale = new Set<string>();
  private outputs = new Set<string>();
  private said = new Set<string>();
  private done = 0;
  private failed = 0;
  private statusTimer: NodeJS.Timeout | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  private stoppedBy: string | undefined;
  private onStop: () => void = () => {};
  /** `--executor slurm`: ready recordings' jobs are submitted, one recording at a time. */
  private slurm: boolean;
  private submissions: Promise<void> = Promise.resolve();

  constructor(private o: CliOptions, private io: Io, private eopts: PlannerOptions, private cfg: Planner, private root: string, private onEngineEvent?: (e: EngineEvent) => void) {
    const stateDir = path.join(root, '.ephys-make');
    try {
      this.log = openEventLog(path.join(stateDir, 'watch.jsonl'), (m) => this.warn(m));
    } catch (err: any) {
      io.err(`warning: no event log: ${err.message}\n`);
    }
    this.report = makeReporter(io, (e) => this.log?.write(e));
    this.failures = new FailedJobs(path.join(stateDir, 'watch-failed.json'), (m) => this.warn(m));
    this.slurm = (o.executor ?? cfg.pipeline.executor) === 'slurm';
    this.watcher = new RecordingWatcher(root, rulesOf(cfg.pipeline), {
      plan: (dir, announce) => this.plan(dir, announce),
      stop: (dir, why) => this.scheduler.dropRecording(dir, why),
      activeJobs: (dir) => { const c = this.scheduler.jobCounts(dir); return c.queued + c.running; },
      touched: (dir) => this.stale.add(dir),
      isOutput: (file) => this.outputs.has(file),
      discover: (dir) => this.discover(dir),
      emit: (e) => this.onEvent(e),
    }, o.once);
  }

  /** Watch always keeps going: one recording's failure never stops the others. */
  async init(): Promise<void> {
    this.scheduler = await schedulerFor(this.o, this.io, this.cfg.pipeline.resources, (dir) => this.plans.get(dir)?.plan() ?? new Map(), (e) => this.onEvent(e), true);
  }

  async run(): Promise<number> {
    const onSignal = (sig: NodeJS.Signals) => {
      if (this.stoppedBy) return;
      this.stoppedBy = sig;
      this.onEvent({ type: 'stopping', signal: sig });
      this.scheduler.abort();
      this.onStop();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    let rescanTimer: NodeJS.Timeout | undefined;
    try {
      const pipelineFile = pipelinePath(this.eopts);
      // chokidar first: a recording that lands while the root is being scanned is still seen.
      if (!this.o.once) await this.watcher.start([pipelineFile], () => this.reloadSoon(), (m) => this.warn(m));
      if (!this.stoppedBy) this.scan(false);
      const { recordings, settling } = this.watcher.counts();
      const rules = rulesOf(this.cfg.pipeline);
      this.info(`${this.o.once ? 'found' : 'watching'} ${this.root}: ${recordings} recording${recordings === 1 ? '' : 's'}${settling ? ` (${settling} being written)` : ''}; ready when unchanged for ${rules.settleMs / 1000} s${rules.when ? ` or when ${rules.when} is there` : ''}${this.slurm ? '; jobs go to SLURM' : ''}${this.log ? `; events in ${this.log.file}` : ''}`);
      if (!this.o.once && !this.stoppedBy) {
        rescanTimer = setInterval(() => this.scan(true), rescanMs);
        await new Promise<void>((resolve) => { this.onStop = resolve; });
      }
      const summary = await this.scheduler.idle();
      await this.submissions;
      if (this.done || this.failed) this.info(`${this.done} job${this.done === 1 ? '' : 's'} done, ${this.failed} failed${summary.skipped ? `, ${summary.skipped} not run` : ''}`);
      if (this.stoppedBy) return 130;
      return this.failed ? 1 : 0;
    } finally {
      if (rescanTimer) clearInterval(rescanTimer);
      if (this.reloadTimer) clearTimeout(this.reloadTimer);
      if (this.statusTimer) clearTimeout(this.statusTimer);
      await this.watcher.close();
      this.report.close();
      this.log?.close();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }

  /** Find recordings: new ones are followed, vanished ones looked at, idle ones planned again. */
  private scan(replanIdle: boolean): void {
    const found = discoverRecordings(this.cfg.pipeline, { root: this.root, cwd: this.io.cwd });
    if (!found.ok) { this.warnDiagnostics('cannot scan for recordings', found.diagnostics); return; }
    const seen = new Set<string>();
    for (const rec of found.value) {
      seen.add(rec.dir);
      const known = this.recordings.get(rec.dir);
      if (!known || known.output !== rec.output || known.name !== rec.name) {
        this.recordings.set(rec.dir, rec);
        this.stale.add(rec.dir);
      }
      if (this.watcher.phaseOf(rec.dir) === undefined) {
        // Build its jobs first, so outputs matching the marker pattern never count as markers.
        this.planFor(rec.dir);
        this.watcher.track(rec.dir, rec.name, rec.output);
      }
    }
    for (const dir of this.watcher.dirs()) if (!seen.has(dir)) this.watcher.poke(dir, true);
    if (replanIdle) this.watcher.replanIdle();
  }

  /** A marker appeared where no recording was known. */
  private discover(dir: string): { name: string; output: string } | undefined {
    const found = discoverRecordings(this.cfg.pipeline, { root: this.root, dirs: [dir], cwd: this.io.cwd });
    const rec = found.ok ? found.value.find((r) => r.dir === dir) : undefined;
    if (!rec) return undefined;
    this.recordings.set(dir, rec);
    this.stale.add(dir);
    this.planFor(dir);
    return { name: rec.name, output: rec.output };
  }

  private planFor(dir: string): RecordingPlan | undefined {
    const have = this.plans.get(dir);
    if (have && !this.stale.has(dir)) return have;
    const rec = this.recordings.get(dir);
    if (!rec) return undefined;
    const made = this.cfg.jobsOf(rec);
    if (!made.ok) { this.warnDiagnostics(`${rec.name}: cannot plan`, made.diagnostics); return undefined; }
    for (const j of have?.jobs ?? []) for (const out of j.outputs) this.outputs.delete(out);
    for (const j of made.value.jobs) for (const out of j.outputs) this.outputs.add(out);
    this.plans.set(dir, made.value);
    this.stale.delete(dir);
    return made.value;
  }

  /** The watcher's `plan` hook: queue a ready recording's stale jobs; false when none. */
  private plan(dir: string, announce: boolean): boolean {
    const rp = this.planFor(dir);
    const rec = this.recordings.get(dir);
    if (!rp || !rec) return false;
    const decisions = rp.plan();
    const { toRun: stale, fresh, adopted, rekey, confirmed, blocked } = workOf(rp, decisions);
    renewKeys(rekey);
    for (const { job, blocked: b } of blocked) {
      if (!this.firstTime(`blocked ${job.id} ${b.path}`)) continue;
      this.onEvent({ type: 'job-skipped', job, why: 'blocked', detail: describeBlocked(b) });
      this.failed++;
    }
    if (adopted.length && adoptJobs(adopted, this.o.checksum)) {
      for (const job of adopted) this.onEvent({ type: 'job-skipped', job, why: 'adopted', detail: 'outputs newer than inputs; record written' });
    }
    for (const job of refreshRecords(confirmed, () => rp.plan(), this.o.checksum)) this.onEvent({ type: 'job-skipped', job, why: 'confirmed', detail: confirmedDetail });
    // A job that failed here before, with the same inputs, waits for a change; so do its dependents.
    const held = new Set<string>();
    if (this.slurm) return this.submitToSlurm(rp, rec, stale.length > 0);
    const toRun = stale.filter(({ job, waitsFor }) => {
      const d = decisions.get(job.id)!;
      // Its upstream is queued on SLURM: it goes there after it, not here.
      if (waitsFor) return false;
      if (job.deps.some((dep) => held.has(dep.id))) { held.add(job.id); return false; }
      if (d.run && d.reason.kind === 'failed-before' && this.failures.isHeld(job)) {
        held.add(job.id);
        if (this.firstTime(`held ${job.id} ${this.failures.fingerprintOf(job)}`)) {
          this.onEvent({ type: 'watch', what: 'held', recording: rec.name, detail: `${job.stage.name} failed before and nothing it depends on has changed; not retried until it does (or run \`ephys-make ${job.stage.name} --dir ${path.relative(this.io.cwd, dir) || '.'}\`)` });
        }
        return false;
      }
      return true;
    });
    if (!toRun.length) {
      if (announce) this.onEvent({ type: 'watch', what: 'up-to-date', recording: rec.name, detail: held.size ? `nothing to run (${held.size} held back after a failure)` : 'up to date' });
      return false;
    }
    // Old entries (a failure, a stopped job) must not judge the new plan's jobs.
    this.scheduler.forgetRecording(dir);
    this.onEvent({ type: 'watch', what: 'queued', recording: rec.name, detail: `${toRun.length} job${toRun.length === 1 ? '' : 's'} to run (${toRun[0].job.stage.name}: ${toRun[0].reason})` });
    this.scheduler.add(toRun, fresh);
    return true;
  }

  /**
   * `--executor slurm`: settle the recording's SLURM records and submit its stale jobs, in the
   * background (one recording after another); nothing runs here, so the recording is idle at once.
   * A job that failed or was cancelled on SLURM waits, as a failed local job does, for a change.
   */
  private submitToSlurm(rp: RecordingPlan, rec: Recording, stale: boolean): boolean {
    if (!stale && !rp.jobs.some((j) => isInFlight(readState(j.stateDir).jobs[j.stage.name]))) return false;
    this.submissions = this.submissions.then(async () => {
      if (this.stoppedBy) return;
      const { submitWatched } = await import('./slurmRun.js');
      const heldNow: string[] = [];
      const n = await submitWatched(rp, this.o, this.io, this.cfg, (e) => this.onEvent(e), (job) => {
        const r = readState(job.stateDir).jobs[job.stage.name];
        if (!isUnchangedSlurmFailure(job, r)) return true;
        heldNow.push(job.stage.name);
        return false;
      });
      for (const stage of heldNow) {
        if (this.firstTime(`slurm-held ${rec.dir} ${stage} ${readState(rp.jobs[0].stateDir).jobs[stage]?.slurm?.jobId}`)) {
          this.onEvent({ type: 'watch', what: 'held', recording: rec.name, detail: `${stage} failed on SLURM and nothing it depends on has changed; not submitted again until it does (or run \`ephys-make ${stage} --dir ${path.relative(this.io.cwd, rec.dir) || '.'}\`)` });
        }
      }
      if (n) this.onEvent({ type: 'watch', what: 'queued', recording: rec.name, detail: `${n} job${n === 1 ? '' : 's'} submitted to SLURM` });
    }).catch((err) => this.warn(`internal error: submitting ${rec.name}: ${err?.stack ?? err}`));
    return false;
  }

  private reloadSoon(): void {
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => { this.reloadTimer = undefined; this.reload(); }, reloadDelayMs);
  }

  /** pipeline.yaml changed: use it if valid (running jobs go on), else say why and keep the old one. */
  private reload(): void {
    if (this.stoppedBy) return;
    const file = path.relative(this.io.cwd, pipelinePath(this.eopts)) || pipelinePath(this.eopts);
    const next = openPlanner(this.eopts);
    if (!next.ok) { this.warnDiagnostics(`${file} changed but has errors; still using the previous version`, next.diagnostics); return; }
    this.cfg = next.value;
    const p = next.value.pipeline;
    this.scheduler.reconfigure({ pools: new Pools(defaultPoolDir(this.io.env), p.resources, !this.io.env.EPHYS_MAKE_POOL_DIR) });
    this.watcher.setRules(rulesOf(p));
    if (!this.o.root && p.recordings.root !== this.root) this.warn(`recordings.root is now ${p.recordings.root}; this watch follows ${this.root} until restarted`);
    this.info(`${file} changed: planning every recording again`);
    for (const dir of this.plans.keys()) this.stale.add(dir);
    // Queued jobs were planned with the old pipeline: forget them; running ones finish first.
    for (const dir of this.watcher.dirs()) {
      if (this.watcher.phaseOf(dir) !== 'busy') continue;
      this.scheduler.forgetRecording(dir);
      this.watcher.replanWhenDone(dir);
    }
    this.scan(true);
  }

  private onEvent(e: EngineEvent): void {
    // The status line is redrawn with each event: give it the counts of now first.
    if (this.io.isTTY && e.type !== 'watch-status') this.report.emit(this.status());
    this.report.emit(e);
    this.onEngineEvent?.(e);
    switch (e.type) {
      case 'job-finished':
        if (e.status === 'done') { this.done++; this.failures.clear(e.job); }
        if (e.status === 'failed' && !e.willRetry) { this.failed++; this.failures.hold(e.job); }
        this.checkEnded(e.job.recording.dir);
        break;
      case 'job-skipped':
        this.checkEnded(e.job.recording.dir);
        break;
      case 'recording-locked':
        // With --no-wait the scheduler skipped its jobs without an event per job.
        if (!e.waiting) for (const r of this.recordings.values()) if (r.name === e.recording) this.checkEnded(r.dir);
        break;
      default:
        break;
    }
    this.statusSoon();
  }

  /** The scheduler settles its entries after emitting; look once it has. */
  private checkEnded(dir: string): void {
    setImmediate(() => this.watcher.jobsEnded(dir));
  }

  /** Events come just before the state they announce: the status line is drawn again after. */
  private statusSoon(): void {
    if (!this.io.isTTY || this.statusTimer) return;
    this.statusTimer = setTimeout(() => { this.statusTimer = undefined; this.report.emit(this.status()); }, 50);
  }

  private status(): EngineEvent {
    const jobs = this.scheduler.jobCounts();
    return { type: 'watch-status', ...this.watcher.counts(), queued: jobs.queued, running: jobs.running, done: this.done, failed: this.failed };
  }

  /** True the first time a key is seen: the same held job or problem is reported once. */
  private firstTime(key: string): boolean {
    if (this.said.has(key)) return false;
    this.said.add(key);
    return true;
  }

  private info(text: string): void { this.onEvent({ type: 'message', level: 'info', text }); }
  private warn(text: string): void { this.onEvent({ type: 'message', level: 'warn', text }); }

  private warnDiagnostics(what: string, diags: Diagnostic[]): void {
    const text = `${what}:\n${diags.map((d) => formatDiagnostic(d, this.io.cwd)).join('').trimEnd()}`;
    if (this.firstTime(text)) this.warn(text);
  }
}

/**
 * Jobs that failed in a watch, each with a fingerprint of what it saw (input JSON, stage
 * definition, input signatures). Such a job is not queued again while its fingerprint is the same,
 * so a broken recording is tried once per change, not forever. Kept in
 * `<root>/.ephys-make/watch-failed.json`, so a restart or a cron `--once` does not retry it either.
 */
class FailedJobs {
  private jobs: Record<string, string> = {};

  constructor(private file: string, private warn: (m: string) => void) {
    try {
      const parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
      if (parsed?.version === 1 && parsed.jobs && typeof parsed.jobs === 'object') this.jobs = parsed.jobs;
    } catch { /* absent or unreadable: nothing held back */ }
  }

  fingerprintOf(job: Job): string {
    const h = crypto.createHash('sha256');
    h.update(job.inputHash).update('\0').update(JSON.stringify(job.definition));
    // Stat only: deciding never reads a data file.
    for (const i of job.inputs) h.update('\0').update(i.path).update('=').update(statSignature(i.path) ?? '-');
    return h.digest('hex').slice(0, 32);
  }

  isHeld(job: Job): boolean {
    return this.jobs[job.id] !== undefined && this.jobs[job.id] === this.fingerprintOf(job);
  }

  hold(job: Job): void {
    this.jobs[job.id] = this.fingerprintOf(job);
    this.save();
  }

  clear(job: Job): void {
    if (!(job.id in this.jobs)) return;
    delete this.jobs[job.id];
    this.save();
  }

  private save(): void {
    try {
      writeFileAtomic(this.file, JSON.stringify({ version: 1, jobs: this.jobs }, null, 1) + '\n');
    } catch (err: any) {
      this.warn(`cannot write ${this.file}: ${err.message}`);
    }
  }
}
