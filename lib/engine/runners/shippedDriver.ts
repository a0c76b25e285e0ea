/**
 * A `python-module` stage whose module ships its own driver (`stages/MODULE/driver.py`, e.g.
 * kilosort4) runs that script with the pipeline's interpreter instead of `python -m
 * ecephys_spike_sorting.modules.MODULE`. The driver's content hash is part of the stage
 * definition, so a changed driver reruns its jobs.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { stagesSourceDir } from '../../base/paths.js';

export interface ShippedDriver { path: string; version: string }

const cache = new Map<string, ShippedDriver | null>();

export function shippedDriverOf(module: string): ShippedDriver | undefined {
  let d = cache.get(module);
  if (d === undefined) {
    const file = path.join(stagesSourceDir, module, 'driver.py');
    try {
      const hash = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex').slice(0, 12);
      d = { path: file, version: `driver.py ${hash}` };
    } catch {
      d = null;
    }
    cache.set(module, d);
  }
  return d ?? undefined;
}
