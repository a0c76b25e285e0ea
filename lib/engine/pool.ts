/**
 * Machine-wide resource pools: `gpu: 1` means one slot for every ephys-make process on this
 * machine, not one per process. Slot k of pool P is the lock file `P/k.lock` under the pool folder
 * (EPHYS_MAKE_POOL_DIR, default under the system temp folder).
 */
import os from 'node:os';
import path from 'node:path';
import { tryLock } from './lock.js';

export function defaultPoolDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.EPHYS_MAKE_POOL_DIR ?? path.join(os.tmpdir(), 'ephys-make-pools');
}

export interface Grant {
  /** pool -> slot numbers held */
  slots: Record<string, number[]>;
  release: () => void;
}

export class Pools {
  constructor(readonly dir: string, readonly sizes: Record<string, number>) {}

  /** Take every slot the request needs, or none. */
  tryAcquire(request: Record<string, number>, purpose: string): Grant | undefined {
    const held: Array<() => void> = [];
    const slots: Record<string, number[]> = {};
    const releaseAll = () => { for (const r of held.splice(0)) r(); };
    for (const [pool, count] of Object.entries(request)) {
      const size = this.sizes[pool] ?? 1;
      slots[pool] = [];
      for (let k = 0; k < size && slots[pool].length < count; k++) {
        const a = tryLock(path.join(this.dir, pool, `${k}.lock`), purpose);
        if (a.ok) { held.push(a.release); slots[pool].push(k); }
      }
      if (slots[pool].length < count) { releaseAll(); return undefined; }
    }
    return { slots, release: releaseAll };
  }
}

/** What a job holding slots sees: EPHYS_MAKE_<POOL>=k, and CUDA_VISIBLE_DEVICES for a pool named gpu. */
export function slotEnvironment(slots: Record<string, number[]>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [pool, ks] of Object.entries(slots)) {
    env[`EPHYS_MAKE_${pool.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`] = ks.join(',');
    if (pool === 'gpu') env.CUDA_VISIBLE_DEVICES = ks.join(',');
  }
  return env;
}
