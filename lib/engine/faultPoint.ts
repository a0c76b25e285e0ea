/**
 * Fault injection for the reliability suite: with EPHYS_MAKE_FAULT_HOLD=<point> in the
 * environment, ephys-make stops at that point of a job's start (the first time, or the time after
 * EPHYS_MAKE_FAULT_SKIP passes), appends `<point> <detail>` to EPHYS_MAKE_FAULT_FILE and waits
 * there, so a test can kill -9 it at exactly that instant.
 *
 *   spawned   the job's launcher exists, its pid not yet recorded anywhere
 *   recorded  its pid is in the record, the marker and the pool slots; the job not yet let go
 */
import fs from 'node:fs';

export type FaultPoint = 'spawned' | 'recorded';

const passes = new Map<FaultPoint, number>();

export async function holdIfAsked(point: FaultPoint, env: NodeJS.ProcessEnv, detail: string): Promise<void> {
  if (env.EPHYS_MAKE_FAULT_HOLD !== point) return;
  const n = passes.get(point) ?? 0;
  passes.set(point, n + 1);
  if (n < Number(env.EPHYS_MAKE_FAULT_SKIP ?? 0)) return;
  if (env.EPHYS_MAKE_FAULT_FILE) fs.appendFileSync(env.EPHYS_MAKE_FAULT_FILE, `${point} ${detail}\n`);
  await new Promise<never>(() => { setInterval(() => {}, 1 << 30); });
}
