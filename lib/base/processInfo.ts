/**
 * Is the process that wrote a lock or a `running` record still alive? A pid alone is not enough
 * (pids are reused), so the process start time from /proc is kept with it where there is one.
 */
import fs from 'node:fs';
import os from 'node:os';

export const hostName = os.hostname();

export function processStartOf(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime), counted after the parenthesised command name, which may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

export interface ProcessIdentity { pid: number; host: string; procStart?: string }

export function selfIdentity(): ProcessIdentity {
  return { pid: process.pid, host: hostName, procStart: processStartOf(process.pid) };
}

/**
 * Alive means: same host, the pid exists, and (when known) it started when the recorded one did.
 * A process on another host is assumed alive: we cannot tell, and taking its lock could be ruinous.
 */
export function isAlive(id: ProcessIdentity): boolean {
  if (id.host !== hostName) return true;
  try {
    process.kill(id.pid, 0);
  } catch (err: any) {
    if (err.code === 'ESRCH') return false;
  }
  if (id.procStart !== undefined) {
    const now = processStartOf(id.pid);
    if (now !== undefined && now !== id.procStart) return false;
  }
  return true;
}

/** Kill a whole process group, ignoring one that is already gone. */
export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try { process.kill(-pid, signal); } catch { /* gone */ }
}
