/** One line per event: for logs, CI, and anything that is not a terminal. */
import type { EngineEvent, WatchWhat } from '../engine/events.js';
import { describeHolder } from '../engine/lock.js';
import { formatBytes } from '../base/signature.js';
import { assertNever } from '../engine/reason.js';

export function eventLine(e: EngineEvent): string | undefined {
  switch (e.type) {
    case 'plan':
      return e.toRun === 0 && e.blocked === 0
        ? `nothing to do: ${e.total} job${e.total === 1 ? '' : 's'} up to date`
        : `plan: ${e.total} jobs, ${e.toRun} to run, ${e.upToDate} up to date${e.blocked ? `, ${e.blocked} blocked` : ''}`;
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
      if (e.why === 'blocked') return `FAILED ${e.job.recording.name} ${e.job.stage.name}: ${e.detail}`;
      return `skip   ${e.job.recording.name} ${e.job.stage.name}: ${e.detail}`;
    case 'recording-locked':
      return `locked ${e.recording}: held by ${describeHolder(e.holder)}; ${e.waiting ? 'waiting for it' : 'skipping it'}`;
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
