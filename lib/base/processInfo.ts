/**
 * Is the process that wrote a lock or a `running` record still alive? A pid alone is not enough
 * (pids are reused), so the process start time from /proc is kept with it where there is one.
 */
import fs from 'node:fs';
import os from 'node:os';

export const hostName = os.hostname();

/** Fields of /proc/PID/stat counted after the parenthesised command name, which may hold spaces. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

export function processStartOf(pid: number): string | undefined {
  return statFields(pid)?.[19]; // field 22, starttime
}

/**
 * A zombie has exited; it only waits for its parent to collect it, and some container inits never
 * do: kill(pid, 0) still succeeds on it, so it must be told apart from a live process.
 */
function isZombie(pid: number): boolean {
  const state = statFields(pid)?.[0];
  return state === 'Z' || state === 'X';
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
  if (isZombie(id.pid)) return false;
  if (id.procStart !== undefined) {
    const now = processStartOf(id.pid);
    if (now !== undefined && now !== id.procStart) return false;
  }
  return true;
}

/**
 * Does any live (non-zombie) process remain in process group `pgid` on this machine? A group's id
 * is its first leader's pid, which the kernel does not hand out again while the group has members,
 * so a group found here is still the job's even when its leader has exited.
 */
export function isGroupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (err: any) {
    if (err.code === 'ESRCH') return false;
  }
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return true;
  }
  for (const p of pids) {
    const f = statFields(Number(p));
    if (f && f[2] === String(pgid) && f[0] !== 'Z' && f[0] !== 'X') return true;
  }
  return false;
}

/** Kill a whole process group, ignoring one that is already gone. */
export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try { process.kill(-pid, signal); } catch { /* gone */ }
}
