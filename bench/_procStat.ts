/** CPU time of a process, from /proc: for benches that measure how idle a server or watch is. */
import fs from 'node:fs';

/** utime + stime in clock ticks. Fields after the command name (which may hold spaces): the 12th and 13th. */
export function cpuTicks(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}
