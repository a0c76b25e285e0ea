/**
 * One line per event: for logs, CI, and anything that is not a terminal. A long job would be
 * silent between `start` and `done`, so each running job also gets a progress line every
 * `everyMs` (30 s by default): how far it is when its stage reports it, and how long it has run.
 */
import type { EngineEvent, WatchWhat } from '../engine/events.js';
import type { Job } from '../engine/job.js';
import type { Progress } from '../engine/runners/spawnJob.js';
import { describeHolder } from '../engine/lock.js';
import { describeSlotHolder } from '../engine/pool.js';
import { formatBytes } from '../base/signature.js';
import { assertNever } from '../engine/reason.js';

export function eventLine(e: EngineEvent): string | undefined {
  switch (e.type) {
    case 'plan':
      return e.toRun === 0 && e.blocked === 0
        ? `nothing to do: ${e.total} job${e.total === 1 ? '' : 's'} ${e.inFlight ? `up to date or queued on SLURM (${e.inFlight} queued or running there)` : 'up to date'}`
        : `plan: ${e.total} jobs, ${e.toRun} to run, ${e.upToDate} up to date${e.blocked ? `, ${e.blocked} blocked` : ''}${e.inFlight ? `, ${e.inFlight} queued or running on SLURM` : ''}`;
    case 'job-submitted':
      return `submit ${e.job.recording.name} ${e.job.stage.name} (${e.reason}): SLURM job ${e.slurmJobId}${e.after.length ? ` after ${e.after.join(', ')}` : ''}`;
    case 'job-started': {
      const slots = Object.entries(e.slots).map(([p, ks]) => `${p} ${ks.join(',')}`).join(', ');
      return `start  ${e.job.recording.name} ${e.job.stage.name} (${e.reason})${e.attempt > 1 ? ` attempt ${e.attempt}` : ''}${slots ? ` [${slots}]` : ''}`;
    }
    case 'job-progress':
      return undefined;
    case 'job-finished':
      if (e.status === 'done') return `done   ${e.job.recording.name} ${e.job.stage.name} (${e.seconds.toFixed(1)} s)`;
      if (e.status === 'interrupted') return `interrupted ${e.job.recording.name} ${e.job.stage.name}`;
      return `FAILED ${e.job.recording.name} ${e.job.stage.name}: ${e.message}${e.willRetry ? '\n  (will retry)' : ''}`;
    case 'job-skipped':
      if (e.why === 'up-to-date') return `skip   ${e.job.recording.name} ${e.job.stage.name}: ${e.detail}`;
      if (e.why === 'adopted') return `adopt  ${e.job.recording.name} ${e.job.stage.name}: ${e.detail}`;
      if (e.why === 'confirmed') return `update ${e.job.recording.name} ${e.job.stage.name}: ${e.detail}`;
      if (e.why === 'blocked') return `FAILED ${e.job.recording.name} ${e.job.stage.name}: ${e.detail}`;
      return `skip   ${e.job.recording.name} ${e.job.stage.name}: ${e.detail}`;
    case 'recording-locked':
      return `locked ${e.recording}: held by ${describeHolder(e.holder)}; ${e.waiting ? 'waiting for it' : 'skipping it'}`;
    case 'slot-busy':
      return `wait   ${e.job.recording.name} ${e.job.stage.name}: ${describeSlotHolder(e.pool, e.slot, e.holder, e.orphan)}; waiting for it`;
    case 'message':
      return e.level === 'warn' ? `warning: ${e.text}` : e.text;
    case 'stopping':
      return `${e.signal}: stopping running jobs`;
    case 'watch':
      return `${watchLabels[e.what]} ${e.recording}: ${e.detail}`;
    case 'watch-status':
      return undefined;
    default:
      return assertNever(e);
  }
}

const watchLabels: Record<WatchWhat, string> = {
  settling: 'settle', ready: 'ready ', queued: 'queue ', 'up-to-date': 'ok    ', stopping: 'stop  ', gone: 'gone  ', held: 'held  ', later: 'later ',
};

export function progressText(p: { done: number; total: number; unit: string }): string {
  const pct = p.total > 0 ? Math.floor((100 * p.done) / p.total) : 0;
  return p.unit === 'bytes' ? `${pct}% of ${formatBytes(p.total)}` : `${pct}%`;
}

/** `m:ss`, or `h:mm:ss` from an hour. */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), sec = total % 60;
  return h ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
}

interface RunningJob {
  job: Job;
  sinceMs: number;
  shownMs: number;
  progress?: Progress;
  /** The first progress report seen: the rate since then gives the time left. */
  first?: { done: number; atMs: number };
}

export function progressLine(r: RunningJob, nowMs: number): string {
  const parts: string[] = [];
  const p = r.progress;
  if (p && p.total > 0) {
    parts.push(p.unit === 'bytes' ? `${progressText(p)}` : `${progressText(p)} (${p.done} of ${p.total})`);
  }
  parts.push(`${formatDuration(nowMs - r.sinceMs)} elapsed`);
  if (p && r.first && p.total > 0 && p.done > r.first.done && nowMs > r.first.atMs) {
    const rate = (p.done - r.first.done) / (nowMs - r.first.atMs);
    parts.push(`about ${formatDuration((p.total - p.done) / rate)} left`);
  }
  return `running ${r.job.recording.name} ${r.job.stage.name}: ${parts.join(', ')}`;
}

export class PlainReport {
  private running = new Map<string, RunningJob>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private write: (t: string) => void, private everyMs: number, private now: () => number = Date.now) {}

  handle(e: EngineEvent): void {
    const now = this.now();
    if (e.type === 'job-started') this.running.set(e.job.id, { job: e.job, sinceMs: now, shownMs: now });
    if (e.type === 'job-progress') {
      const r = this.running.get(e.job.id);
      if (r) { r.progress = e.progress; r.first ??= { done: e.progress.done, atMs: now }; }
    }
    if (e.type === 'job-finished') this.running.delete(e.job.id);
    const line = eventLine(e);
    if (line !== undefined) this.write(line + '\n');
    if (this.running.size && !this.timer) {
      this.timer = setInterval(() => this.tick(), Math.min(this.everyMs, 1000));
      this.timer.unref();
    } else if (!this.running.size && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    const now = this.now();
    for (const r of this.running.values()) {
      if (now - r.shownMs < this.everyMs) continue;
      r.shownMs = now;
      this.write(progressLine(r, now) + '\n');
    }
  }
}
