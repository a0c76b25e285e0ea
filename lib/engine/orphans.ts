/**
 * When ephys-make itself is killed (kill -9, a crash), its jobs' process groups live on. Whoever
 * takes the recording's lock next stops them before starting anything, so an orphaned Kilosort
 * cannot keep writing into outputs that a new run is making.
 */
import { readState } from './record.js';
import { isAlive, killGroup } from '../base/processInfo.js';

export function reapOrphans(stateDir: string): number {
  let reaped = 0;
  const state = readState(stateDir);
  for (const rec of Object.values(state.jobs)) {
    if (rec.status !== 'running' || !rec.childPid || rec.pid === process.pid) continue;
    if (rec.host && !isAlive({ pid: rec.childPid, host: rec.host, procStart: rec.childStart })) continue;
    killGroup(rec.childPid, 'SIGKILL');
    reaped++;
  }
  return reaped;
}
