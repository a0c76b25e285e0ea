/** What happened, as values; only `report/*` turns them into text. */
import type { Job } from './job.js';
import type { LockHolder } from './lock.js';
import type { SlotHolder } from './pool.js';
import type { Progress } from './runners/spawnJob.js';

export type EngineEvent =
  | { type: 'plan'; total: number; toRun: number; upToDate: number; blocked: number; inFlight?: number }
  | { type: 'job-submitted'; job: Job; reason: string; slurmJobId: string; after: string[] }
  | { type: 'job-started'; job: Job; reason: string; attempt: number; slots: Record<string, number[]> }
  | { type: 'job-progress'; job: Job; progress: Progress }
  | { type: 'job-finished'; job: Job; status: 'done' | 'failed' | 'interrupted'; seconds: number; message?: string; willRetry?: boolean }
  | { type: 'job-skipped'; job: Job; why: 'up-to-date' | 'upstream-failed' | 'blocked' | 'adopted' | 'in-flight' | 'confirmed'; detail: string }
  | { type: 'recording-locked'; recording: string; holder: LockHolder; waiting: boolean }
  /** A job waits for a pool slot another process (or an orphaned job) holds. */
  | { type: 'slot-busy'; job: Job; pool: string; slot: number; holder: SlotHolder; orphan: boolean }
  | { type: 'message'; level: 'info' | 'warn'; text: string }
  | { type: 'stopping'; signal: string }
  | { type: 'watch'; recording: string; what: WatchWhat; detail: string }
  | { type: 'watch-status'; recordings: number; settling: number; queued: number; running: number; done: number; failed: number };

/** Watch mode: what happened to a recording (its states are drawn in lib/engine/watch.ts). */
export type WatchWhat = 'settling' | 'ready' | 'queued' | 'up-to-date' | 'stopping' | 'gone' | 'held' | 'later';

export type Emit = (e: EngineEvent) => void;
