/**
 * When ephys-make itself is killed (kill -9, a crash), its jobs' process groups live on. Whoever
 * takes the recording's lock next stops them before starting anything, so an orphaned Kilosort
 * cannot keep writing into outputs that a new run is making. The groups are found in `running`
 * records and, should state.json be damaged or gone, in the jobs' running markers.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readState } from './record.js';
import { readRunningMarker } from './runningMarker.js';
import { hostName, isAlive, isGroupAlive, killGroup, processStartOf } from '../base/processInfo.js';

interface Holder { pid?: number; procStart?: string; host?: string; childPid?: number; childStart?: string; slurmJobId?: string; slurm?: unknown }

/** Stop the orphaned job groups of one recording; returns how many were stopped. */
export function reapOrphans(stateDir: string, waitMs = 5000): number {
  const holders: Holder[] = [];
  for (const rec of Object.values(readState(stateDir).jobs)) if (rec && typeof rec === 'object' && rec.status === 'running') holders.push(rec);
  let entries: string[] = [];
  try { entries = fs.readdirSync(stateDir); } catch { /* no state folder yet */ }
  for (const e of entries) {
    const m = readRunningMarker(path.join(stateDir, e));
    if (m) holders.push(m);
  }
  const me = processStartOf(process.pid);
  const killed = new Set<number>();
  for (const h of holders) {
    if (!h.childPid || killed.has(h.childPid)) continue;
    // A SLURM job on this node is not an orphan: SLURM runs it and its record is its own.
    if (h.slurm || h.slurmJobId) continue;
    if (h.pid === process.pid && h.procStart === me) continue; // our own job
    if (h.host && h.host !== hostName) continue; // another machine's: out of reach
    if (!isOrphanGroup(h.childPid, h.childStart)) continue;
    killGroup(h.childPid, 'SIGKILL');
    killed.add(h.childPid);
  }
  // Partials are removed next: wait until the killed groups can no longer write.
  const deadline = Date.now() + waitMs;
  while ([...killed].some(isGroupAlive) && Date.now() < deadline) sleepMs(20);
  return killed.size;
}

/** The group the record names is still there: its leader (same start time) or, the leader gone, members. */
export function isOrphanGroup(pgid: number, leaderStart: string | undefined): boolean {
  if (isAlive({ pid: pgid, host: hostName, procStart: leaderStart })) return true;
  // The leader is gone or its pid now belongs to another process: a group of that id can only be
  // the job's own leftovers if no live process has the id as its pid.
  const reused = processStartOf(pgid) !== undefined && isAlive({ pid: pgid, host: hostName });
  return !reused && isGroupAlive(pgid);
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
