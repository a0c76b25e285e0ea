/**
 * A debug dump of the random subsamples (EPHYS_MAKE_QM_DUMP_DIR=folder), so a reference
 * implementation can compute the PC metrics and silhouette score on exactly the same spikes.
 * Indices are positions among the epoch's spikes (those with t > 0), in the Kilosort arrays' order.
 *
 *   pc_subsample_pairs.npy   int32 (P, 3): unit index u, unit index v in range of u, spikes drawn
 *   pc_subsample_spikes.npy  int32 (sum of counts,): the draws, in draw order, pair after pair
 *   silhouette_spikes.npy    int32 (n,): the silhouette sample, in draw order
 * Unit indices count the epoch's distinct cluster ids in ascending order.
 */
import path from 'node:path';
import { writeNpy } from '../../lib/formats/npy.js';

export class SubsampleDump {
  private pairs: number[] = [];
  private chunks: Int32Array[] = [];
  private byUnit = new Map<number, Array<{ unit: number; spikes: Int32Array }>>();

  constructor(readonly dir: string) {}

  addUnit(u: number, draws: Array<{ unit: number; spikes: Int32Array }>): void {
    this.byUnit.set(u, draws);
  }

  write(silhouetteSpikes: Int32Array | undefined): void {
    for (const u of Array.from(this.byUnit.keys()).sort((a, b) => a - b)) {
      for (const d of this.byUnit.get(u)!) {
        this.pairs.push(u, d.unit, d.spikes.length);
        this.chunks.push(d.spikes);
      }
    }
    const total = this.chunks.reduce((s, c) => s + c.length, 0);
    const spikes = new Int32Array(total);
    let at = 0;
    for (const c of this.chunks) { spikes.set(c, at); at += c.length; }
    writeNpy(path.join(this.dir, 'pc_subsample_pairs.npy'), { dtype: 'int32', shape: [this.pairs.length / 3, 3], data: Int32Array.from(this.pairs) });
    writeNpy(path.join(this.dir, 'pc_subsample_spikes.npy'), { dtype: 'int32', shape: [total], data: spikes });
    if (silhouetteSpikes) writeNpy(path.join(this.dir, 'silhouette_spikes.npy'), { dtype: 'int32', shape: [silhouetteSpikes.length], data: Int32Array.from(silhouetteSpikes) });
  }
}
