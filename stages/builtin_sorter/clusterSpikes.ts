/**
 * From detected spikes to clusters: each peak-channel neighbourhood clustered on its own (in
 * parallel, isosplit.ts), clusters of neighbouring neighbourhoods that are one unit merged
 * (merge.ts), spikes moved to their nearest cluster mean (reassign.ts), clusters of one or two
 * spikes folded into their nearest cluster, and clusters numbered by depth, as Phy users expect
 * to scroll them.
 */
import { mergeAcrossNeighbourhoods } from './merge.js';
import type { SorterParams } from './params.js';
import type { SorterPool } from './worker.js';
import { foldSmallClusters, reassignToNearestTemplate } from './reassign.js';
import type { Task, TaskResult } from './tasks.js';

export interface SpikeFeatures {
  channels: Int32Array;
  /** [spike][slot][component]. */
  features: Float32Array;
}

export interface Clustering {
  /** Spikes of each cluster, ascending; clusters ordered by peak channel. */
  clusters: number[][];
  /** Most common peak channel of each cluster's spikes. */
  peaks: number[];
  neighbourhoods: number;
  localClusters: number;
  /** Clusters below min_unit_spikes folded into their nearest cluster. */
  folded: number;
  /** Spikes of those with no cluster near enough: in no cluster, ascending. */
  dropped: number[];
}

export function modeChannel(events: number[], channels: Int32Array): number {
  const counts = new Map<number, number>();
  let best = channels[events[0]], bestCount = 0;
  for (const e of events) {
    const k = (counts.get(channels[e]) ?? 0) + 1;
    counts.set(channels[e], k);
    if (k > bestCount || (k === bestCount && channels[e] < best)) { best = channels[e]; bestCount = k; }
  }
  return best;
}

export async function clusterSpikes(pool: SorterPool, s: SpikeFeatures, p: SorterParams, sortable: Uint8Array): Promise<Clustering> {
  const perEvent = (2 * p.neighbourhood_radius + 1) * p.pca_components;
  const groups = new Map<number, number[]>();
  s.channels.forEach((c, i) => {
    if (!groups.has(c)) groups.set(c, []);
    groups.get(c)!.push(i);
  });
  const groupList = [...groups.entries()].sort((a, b) => a[0] - b[0]);
  const tasks: Task[] = groupList.map(([channel, events]) => {
    const data = new Float64Array(events.length * perEvent);
    events.forEach((e, i) => { for (let k = 0; k < perEvent; k++) data[i * perEvent + k] = s.features[e * perEvent + k]; });
    return {
      kind: 'cluster', data, n: events.length, d: perEvent, dims: p.cluster_dimensions,
      options: {
        isocutThreshold: p.isocut_threshold, separationThreshold: p.separation_threshold, initialClusters: p.initial_clusters,
        minClusterSize: p.min_cluster_spikes, seed: (p.seed ^ Math.imul(channel + 1, 0x9e3779b1)) >>> 0,
      },
    };
  });
  const labelled = await pool.runAll<Extract<TaskResult, { kind: 'cluster' }>>(tasks);
  const local: number[][] = [];
  groupList.forEach(([, events], g) => {
    const byLabel = new Map<number, number[]>();
    events.forEach((e, i) => {
      const l = labelled[g].labels[i];
      if (!byLabel.has(l)) byLabel.set(l, []);
      byLabel.get(l)!.push(e);
    });
    for (const l of [...byLabel.keys()].sort((a, b) => a - b)) local.push(byLabel.get(l)!);
  });
  const merged = mergeAcrossNeighbourhoods({
    channels: s.channels, features: s.features, radius: p.neighbourhood_radius, components: p.pca_components, clusters: local, sortable,
    mergeRadius: p.merge_radius, dims: p.cluster_dimensions, isocutThreshold: p.isocut_threshold, separationThreshold: p.separation_threshold,
    maxDifference: p.merge_max_difference,
  });
  const reassigned = reassignToNearestTemplate({
    channels: s.channels, features: s.features, radius: p.neighbourhood_radius, components: p.pca_components, clusters: merged, searchRadius: p.merge_radius,
  });
  const { clusters: kept, folded, dropped } = foldSmallClusters({
    channels: s.channels, features: s.features, radius: p.neighbourhood_radius, components: p.pca_components, clusters: reassigned, searchRadius: p.merge_radius,
  }, p.min_unit_spikes);
  const peakOf = kept.map((events) => modeChannel(events, s.channels));
  const order = kept.map((_, i) => i).sort((a, b) => peakOf[a] - peakOf[b] || kept[a][0] - kept[b][0]);
  return { clusters: order.map((i) => kept[i]), peaks: order.map((i) => peakOf[i]), neighbourhoods: groupList.length, localClusters: local.length, folded, dropped };
}
