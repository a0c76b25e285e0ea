/**
 * What the PC-based metrics read, in a form that crosses to worker threads without copying: the
 * epoch spikes grouped by unit, pc_features and pc_feature_ind, all on SharedArrayBuffers.
 */
import type { UnitSpikes } from './unitSpikes.js';

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
}

export interface PcParams {
  numChannelsToCompare: number;
  maxSpikesForUnit: number;
  maxSpikesForNn: number;
  nNeighbors: number;
  seed: number;
}
