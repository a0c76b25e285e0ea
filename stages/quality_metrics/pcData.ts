/**
 * What the PC-based metrics read, in a form that crosses to worker threads without copying: the
 * epoch spikes grouped by unit, pc_features and pc_feature_ind, all on SharedArrayBuffers.
 */
import type { UnitSpikes } from './unitSpikes.js';

/**
 * Which channels a unit's PC metrics compare on. `module`: the Allen module's rule, for Kilosort 2's
 * layout (32 PC channels per template): every channel of the unit's window, in the PC channels of
 * each unit taken. `shared`: for Kilosort 4's layout (10 PC channels per cluster), where that rule
 * finds almost nothing: the window's channels the unit and its neighbours all have (sharedChannels.ts).
 */
export type PcChannelRule = 'module' | 'shared';

export interface PcData {
  spikes: Pick<UnitSpikes, 'templates' | 'sourceRow' | 'unitOf' | 'clusterIds' | 'unitStart' | 'spikesByUnit'>;
  /** [rows][pcCount][pcChannelCount] in C order, rows as in the Kilosort files. */
  pcFeatures: Float32Array;
  pcCount: number;
  pcChannelCount: number;
  /** [templates][pcChannelCount]. */
  pcFeatureInd: Uint32Array;
  /** Peak channel of each unit, in pc_feature_ind space. */
  unitPeakChannel: Int32Array;
  /** max(pc_feature_ind): the last channel a unit's channel set may reach. */
  maxChannel: number;
  channelRule: PcChannelRule;
}

export interface PcParams {
  numChannelsToCompare: number;
  maxSpikesForUnit: number;
  maxSpikesForNn: number;
  nNeighbors: number;
  seed: number;
}

/** A unit's drawn spikes (at least two) grouped by template, ascending, and those templates. */
export interface DrawnUnit { unit: number; ordered: Int32Array; templates: number[] }
