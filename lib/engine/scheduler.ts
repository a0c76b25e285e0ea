/**
 * The scheduler: a ready queue under `-j`, machine-wide pools and per-recording locks.
 *
 * A job's life here:  queued -> ready (deps finished) -> [lock recording] -> [pool slots] -> running
 *                       -> done | failed (-> retry: ready) | interrupted;  dependents of a failure -> skipped
 *
 * Jobs can be added while it runs (watch mode). Other ephys-make processes are seen only through
 * lock files, so waiting on them is polling with a short timer.
 */
import path from 'node:path';
import { InputJsonError, type Job } from './job.js';
import type { Decision } from './plan.js';
import type { Emit } from './events.js';
import type { Pools, Grant } from './pool.js';
import { slotEnvironment } from './pool.js';
import { tryLock } from './lock.js';
import { isSystemError } from '../base/systemError.js';
import { spaceNeeded, spaceProblem, type SpaceNeed } from './space.js';
import { describeReason } from './reason.js';
import { logTail, type ExecutingJob, type JobOutcome } from './execute.js';
import { claimRecording, jobSucceeded, type Executor } from './lifecycle.js';

type JobState = 'queued' | 'running' | 'done' | 'failed' | 'skipped';

interface Entry {
  job: Job;
  reason: string;
  state: JobState;
  attempt: number;
  notBefore: number;
}

export interface SchedulerOptions {
  executor: Executor;
  maxJobs: number;
  keepGoing: boolean;
  pools: Pools;
  shuffle: boolean;
  /** Wait for a recording locked by another process (default), or skip it. */
  waitForLocks: boolean;
  env: NodeJS.ProcessEnv;
  emit: Emit;
  /** Plan one recording again once its lock is held: another process may have done the work. */
  replan: (recordingDir: string) => Map<string, Decision>;
}

export interface Summary { done: number; failed: number; skipped: number; interrupted: boolean }

const pollMs = 200;

export class Scheduler {
  private entries = new Map<string, Entry>();
  private order: Entry[] = [];
  private running = new Map<string, { exec: ExecutingJob; grant?: Grant }>();
  private locks = new Map<string, () => void>();
  private lockNoticed = new Set<string>();
  private slotNoticed = new Set<string>();
  private stopLaunching = false;
  private aborted = false;
  private timer: NodeJS.Timeout | undefined;
  private idleWaiters: Array<() => void> = [];
  /** Jobs finished up to date in this run: they count as done for their dependents. */
  private settled = new Set<string>();
  /** Disk space declared by running jobs, by job. */
  private reserved = new Map<string, SpaceNeed>();
  private spaceNoticed = new Set<string>();

  constructor(private o: SchedulerOptions) {}

  /** Queue jobs that must run; `fresh` are the ids found up to date (their dependents may start). */
  add(toRun: Array<{ job: Job; reason: string }>, fresh: Job[] = []): void {
    for (const j of fresh) this.settled.add(j.id);
    for (const { job, reason } of toRun) {
      const existing = this.entries.get(job.id);
      if (existing && (existing.state === 'queued' || existing.state === 'running')) continue;
      const e: Entry = { job, reason, state: 'queued', attempt: 1, notBefore: 0 };
      if (existing) this.order.splice(this.order.indexOf(existing), 1);
      this.entries.set(job.id, e);
      this.order.push(e);
    }
    if (this.o.shuffle) shuffle(this.order);
    this.pump();
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<Summary> {
    return new Promise((resolve) => {
      const check = () => resolve(this.summary());
      if (this.isIdle()) check(); else this.idleWaiters.push(check);
    });
  }

  /** SIGINT/SIGTERM: launch nothing new, stop what runs. */
  abort(): void {
    this.aborted = true;
    this.stopLaunching = true;
    for (const e of this.order) if (e.state === 'queued') e.state = 'skipped';
    for (const { exec } of this.running.values()) exec.interrupt();
    this.pump();
  }


  /**
   * Forget a recording's queued jobs (watch: it changed or vanished); running ones are interrupted,
   * and `why` goes into their records.
   */
  dropRecording(dir: string, why?: string): void {
    for (const e of this.order) {
      if (e.job.recording.dir !== dir) continue;
      if (e.state === 'queued') e.state = 'skipped';
      if (e.state === 'running') this.running.get(e.job.id)?.exec.interrupt(why);
    }
    this.pump();
  }

  /**
   * Watch: forget a recording's queued and finished jobs, so that jobs planned for it afresh are
   * judged by the new plan alone (an old failed or skipped entry would otherwise skip its
   * dependents). Running jobs go on.
   */
  forgetRecording(dir: string): void {
    this.order = this.order.filter((e) => {
      if (e.job.recording.dir !== dir || e.state === 'running') return true;
      this.entries.delete(e.job.id);
      this.settled.delete(e.job.id);
      return false;
    });
    this.pump();
  }

  /** Queued and running jobs, of one recording or of all. */
  jobCounts(dir?: string): { queued: number; running: number } {
    let queued = 0, running = 0;
    for (const e of this.order) {
      if (dir !== undefined && e.job.recording.dir !== dir) continue;
      if (e.state === 'queued') queued++; else if (e.state === 'running') running++;
    }
    return { queued, running };
  }

  /** Watch: pipeline.yaml changed; jobs launched from now on use these. */
  reconfigure(changes: Pick<SchedulerOptions, 'pools'>): void {
    this.o = { ...this.o, ...changes };
  }

  private summary(): Summary {
    let done = 0, failed = 0, skipped = 0;
    for (const e of this.order) {
      if (e.state === 'done') done++; else if (e.state === 'failed') failed++; else if (e.state === 'skipped') skipped++;
    }
    return { done, failed, skipped, interrupted: this.aborted };
  }

  private isIdle(): boolean {
    return this.running.size === 0 && !this.order.some((e) => e.state === 'queued' && !this.stopLaunching);
  }

  private depsFinished(job: Job): 'yes' | 'no' | 'failed' {
    for (const d of job.deps) {
      const e = this.entries.get(d.id);
      if (!e) continue;
      if (e.state === 'failed' || e.state === 'skipped') return 'failed';
      if (e.state !== 'done' && !this.settled.has(d.id)) return 'no';
    }
    return 'yes';
  }

  private pump(): void {
    if (this.timer) { clearTimeout(this.timer); this.timer = undefined; }
    let waitingOnOthers = false;
    const now = Date.now();
    for (const e of this.order) {
      if (e.state !== 'queued') continue;
      if (this.stopLaunching) { e.state = 'skipped'; continue; }
      const deps = this.depsFinished(e.job);
      if (deps === 'failed') {
        e.state = 'skipped';
        this.o.emit({ type: 'job-skipped', job: e.job, why: 'upstream-failed', detail: 'an upstream job failed' });
        continue;
      }
      if (deps === 'no') continue;
      if (e.notBefore > now) { waitingOnOthers = true; continue; }
      if (this.running.size >= this.o.maxJobs) break;
      const recDir = e.job.recording.dir;
      if (!this.locks.has(recDir)) {
        const locked = this.lockRecording(e.job);
        if (locked === 'failed') continue;
        if (!locked) {
          if (this.o.waitForLocks) waitingOnOthers = true;
          continue;
        }
        if (e.state !== 'queued') continue;
      }
      const space = this.spaceGate(e);
      // Waits for a running job on the same drive to end; its end pumps again.
      if (space === 'wait') continue;
      let got: ReturnType<Pools['tryAcquire']>;
      try {
        got = this.o.pools.tryAcquire(e.job.stage.resources, `${e.job.stage.name} ${e.job.recording.name}`);
      } catch (err) {
        // A full disk or an unwritable pool folder: this job cannot start; the run goes on (-k) or ends.
        if (!isSystemError(err)) throw err;
        this.fail(e, `cannot take a slot of pool ${Object.keys(e.job.stage.resources).join(', ')}: ${err.message}`);
        continue;
      }
      if (!got.ok && 'error' in got) { this.fail(e, got.error); continue; }
      if (!got.ok) {
        waitingOnOthers = true;
        const { pool, slot, holder, orphan } = got.busy;
        const key = `${pool}\0${slot}\0${holder.pid}\0${holder.startedAt}\0${orphan}`;
        if (!this.slotNoticed.has(key)) {
          this.slotNoticed.add(key);
          this.o.emit({ type: 'slot-busy', job: e.job, pool, slot, holder, orphan });
        }
        continue;
      }
      this.launch(e, got.grant, space);
    }
    this.releaseFinishedRecordings();
    if (this.isIdle()) {
      for (const w of this.idleWaiters.splice(0)) w();
      return;
    }
    if (waitingOnOthers) this.timer = setTimeout(() => this.pump(), pollMs);
  }

  /** A job that could not start (its recording cannot be locked, say): failed, with why. */
  private fail(e: Entry, message: string): void {
    e.state = 'failed';
    this.o.emit({ type: 'job-finished', job: e.job, status: 'failed', seconds: 0, message });
    if (!this.o.keepGoing) this.stopLaunching = true;
  }

  /**
   * Space declared by running jobs is taken as theirs until they end: a job that fits in the free
   * space only if they wrote nothing more waits for them, then its own preflight decides. One that
   * does not fit even alone starts, and its preflight fails it with the numbers.
   */
  private spaceGate(e: Entry): SpaceNeed | undefined | 'wait' {
    let need: SpaceNeed | string | undefined;
    let others = 0;
    try {
      need = spaceNeeded(e.job);
      if (!need || typeof need === 'string') return undefined;
      for (const r of this.reserved.values()) if (r.device === need.device) others += r.bytes;
      if (!others || !spaceProblem(need, others) || spaceProblem(need)) return need;
    } catch (err) {
      // The preflight in the job reports what went wrong.
      if (!isSystemError(err) && !(err instanceof InputJsonError)) throw err;
      return undefined;
    }
    if (!this.spaceNoticed.has(e.job.id)) {
      this.spaceNoticed.add(e.job.id);
      this.o.emit({ type: 'message', level: 'info', text: `${e.job.recording.name} ${e.job.stage.name} waits for running jobs to end: ${spaceProblem(need, others)}` });
    }
    return 'wait';
  }

  private lockRecording(job: Job): boolean | 'failed' {
    const recDir = job.recording.dir;
    let attempt: ReturnType<typeof tryLock>;
    try {
      attempt = tryLock(path.join(job.stateDir, 'lock'), `ephys-make ${process.argv.slice(2).join(' ')}`.trim());
    } catch (err) {
      // A read-only recording folder or a full disk: nothing of this recording can run; the others
      // go on with -k.
      if (!isSystemError(err)) throw err;
      for (const e of this.order) if (e.job.recording.dir === recDir && e.state === 'queued') this.fail(e, `cannot lock the recording (${path.join(job.stateDir, 'lock')}): ${err.message}`);
      return 'failed';
    }
    if (!attempt.ok) {
      const key = `${recDir}\0${attempt.holder.pid}`;
      if (!this.lockNoticed.has(key)) {
        this.lockNoticed.add(key);
        this.o.emit({ type: 'recording-locked', recording: job.recording.name, holder: attempt.holder, waiting: this.o.waitForLocks });
      }
      if (!this.o.waitForLocks) {
        for (const e of this.order) if (e.job.recording.dir === recDir && e.state === 'queued') e.state = 'skipped';
      }
      return false;
    }
    this.locks.set(recDir, attempt.release);
    try {
      for (const text of claimRecording([job]).warnings) this.o.emit({ type: 'message', level: 'warn', text });
    } catch (err) {
      // A full disk, say: what a killed run left stays, and still refuses adoption; the jobs' own
      // record writes then fail them in one line.
      if (!isSystemError(err)) throw err;
      this.o.emit({ type: 'message', level: 'warn', text: `${job.recording.name}: cannot clear what a killed run left (${err.message})` });
    }
    const decisions = this.o.replan(recDir);
    for (const e of this.order) {
      if (e.job.recording.dir !== recDir || e.state !== 'queued') continue;
      const d = decisions.get(e.job.id);
      if (d && !d.run && 'inFlight' in d) {
        // Submitted to SLURM meanwhile: it runs there; its dependents here cannot start.
        e.state = 'skipped';
        this.o.emit({ type: 'job-skipped', job: e.job, why: 'in-flight', detail: `${d.inFlight.status} on SLURM meanwhile (job ${d.inFlight.slurmJobId})` });
      } else if (d && !d.run) {
        e.state = 'done';
        this.settled.add(e.job.id);
        this.o.emit({ type: 'job-skipped', job: e.job, why: 'up-to-date', detail: 'done meanwhile by another ephys-make' });
      } else if (d && d.run) {
        e.reason = describeReason(d.reason);
      }
    }
    return true;
  }

  private releaseFinishedRecordings(): void {
    for (const [dir, release] of this.locks) {
      const busy = this.order.some((e) => e.job.recording.dir === dir && (e.state === 'running' || (e.state === 'queued' && !this.stopLaunching)));
      if (!busy) { release(); this.locks.delete(dir); }
    }
  }

  private launch(e: Entry, grant: Grant, space?: SpaceNeed): void {
    e.state = 'running';
    if (space) this.reserved.set(e.job.id, space);
    const started = Date.now();
    const env = { ...this.o.env, ...slotEnvironment(grant.slots), EPHYS_MAKE_JOB: e.job.id };
    this.o.emit({ type: 'job-started', job: e.job, reason: e.reason, attempt: e.attempt, slots: grant.slots });
    const exec = this.o.executor.start(e.job, {
      reason: e.reason, attempt: e.attempt, env,
      onProgress: (progress) => this.o.emit({ type: 'job-progress', job: e.job, progress }),
      onSpawned: (pgid, start) => grant.setJob(pgid, start),
    });
    this.running.set(e.job.id, { exec, grant });
    exec.outcome.then((out) => this.finished(e, out, grant, started), (err) => {
      this.finished(e, { status: 'failed', message: isSystemError(err) ? err.message : `internal error: ${err?.stack ?? err}` }, grant, started);
    });
  }

  private finished(e: Entry, out: JobOutcome, grant: Grant, started: number): void {
    grant.release();
    this.running.delete(e.job.id);
    this.reserved.delete(e.job.id);
    const seconds = (Date.now() - started) / 1000;
    if (out.status === 'done') {
      e.state = 'done';
      this.o.emit({ type: 'job-finished', job: e.job, status: 'done', seconds });
      try {
        jobSucceeded(e.job, (j) => this.entries.get(j.id)?.state === 'done' || this.settled.has(j.id));
      } catch (err) {
        if (!isSystemError(err)) throw err;
        this.o.emit({ type: 'message', level: 'warn', text: `${e.job.recording.name}: temporary outputs of ${e.job.stage.name}'s inputs not removed: ${err.message}` });
      }
    } else if (out.status === 'interrupted') {
      e.state = 'skipped';
      this.o.emit({ type: 'job-finished', job: e.job, status: 'interrupted', seconds });
    } else {
      const retry = !this.aborted && e.attempt <= e.job.stage.retries;
      this.o.emit({ type: 'job-finished', job: e.job, status: 'failed', seconds, message: `${out.message}\n${indent(logTail(e.job.logPath))}\n  log: ${e.job.logPath}`, willRetry: retry });
      if (retry) {
        e.attempt++;
        e.state = 'queued';
        e.notBefore = Date.now() + Math.min(30_000, 1000 * 2 ** (e.attempt - 2));
      } else {
        e.state = 'failed';
        if (!this.o.keepGoing) this.stopLaunching = true;
      }
    }
    this.pump();
  }
}

function indent(text: string): string {
  return text ? text.split('\n').map((l) => `  | ${l}`).join('\n') : '  | (log is empty)';
}

function shuffle<T>(a: T[]): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
}

