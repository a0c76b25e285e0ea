/**
 * Picks the terminal or the plain report; both get every event. Recordings skipped because another
 * ephys-make held them (--no-wait) are summed up at the end, with who held them.
 */
import type { Io } from '../base/io.js';
import type { EngineEvent } from '../engine/events.js';
import { describeHolder, type LockHolder } from '../engine/lock.js';
import { PlainReport } from './plain.js';
import { TerminalReport } from './terminal.js';

/** Progress lines in a log: every 30 s per running job unless EPHYS_MAKE_PROGRESS_SECONDS says otherwise. */
export function progressIntervalMs(env: NodeJS.ProcessEnv): number {
  const s = Number(env.EPHYS_MAKE_PROGRESS_SECONDS);
  return (Number.isFinite(s) && s > 0 ? s : 30) * 1000;
}

export function makeReporter(io: Io, extra?: (e: EngineEvent) => void): { emit: (e: EngineEvent) => void; close: () => void } {
  const view = io.isTTY ? new TerminalReport((s) => io.out(s)) : new PlainReport((s) => io.out(s), progressIntervalMs(io.env));
  const skipped = new Map<string, LockHolder>();
  return {
    emit: (e) => {
      extra?.(e);
      if (e.type === 'recording-locked' && !e.waiting) skipped.set(e.recording, e.holder);
      // Skipped once, run later (a watch comes back to it): not skipped after all.
      if (e.type === 'job-started') skipped.delete(e.job.recording.name);
      view.handle(e);
    },
    close: () => {
      view.close();
      if (skipped.size) io.out(skippedSummary(skipped));
    },
  };
}

export function skippedSummary(skipped: Map<string, LockHolder>): string {
  const n = skipped.size;
  let out = `not run: ${n} recording${n === 1 ? '' : 's'} held by another ephys-make (--no-wait skips instead of waiting):\n`;
  for (const [recording, holder] of [...skipped].sort((a, b) => (a[0] < b[0] ? -1 : 1))) out += `  ${recording}: held by ${describeHolder(holder)}\n`;
  return out;
}
