/**
 * Turns probe_info.json's per-channel values into the constants of the SIMD kernel.
 *
 * The Allen algorithm (reference §1.3), per time sample:
 *   o[i] = x[i] - offset[i]                              for i < maxChannel (int16, wraps)
 *   r[g] = "median" of o[ch], ch = g, g+24, ... < maxChannel with mask[ch], for 24 ADC groups g
 *   y[i] = o[i] - int(float(r[i % 24]) * scaling[i])     for i < maxChannel (int16, wraps)
 *   y[i] = x[i]                                          for i >= maxChannel (untouched)
 *
 * The "median" reproduces the module's off-by-one: the n collected values are taken in channel
 * order, only the first n-1 are sorted, and element n/2 (integer division) is returned. For
 * n >= 3 that is the order statistic floor(n/2) of the first n-1 values; for n = 1 or 2 it is the
 * last collected value, left where it was. For n = 0 the module reads a stale buffer (its sort is
 * then given an invalid range); here such a group's residual is 0, so nothing is subtracted.
 *
 * Why lanes work: 24 = 3 x 8, so the eight int16 lanes of the vector loaded at channel 24j + 8t
 * hold one channel of each group 8t..8t+7. A comparator network applied to the J vectors of a
 * sample ranks eight groups at once. Groups differ in how many usable channels they have, so
 * every lane is padded to J values with sentinels (-32768 below, 32767 above, 0 for an empty
 * group) placed so that the wanted element sits at the same rank K = floor(J/2) in every lane;
 * ties with real values at the int16 limits cannot change an order statistic.
 */

export const groupCount = 24;
const lanes = 8;
const lowSentinel = -32768;
const highSentinel = 32767;

export interface ProbeValues {
  numChannels: number;
  /** Channels at or above this are copied unchanged (the module's third argument, the air channel). */
  maxChannel: number;
  /** DC offsets in counts, already truncated to int16. */
  offset: Int16Array;
  scaling: Float32Array;
  mask: boolean[];
}

export interface ChannelPlan {
  numChannels: number;
  maxChannel: number;
  /** Values per lane fed to the network: the most channels any group can hold. */
  slots: number;
  /** Rank the network selects; the same in every lane thanks to the sentinels. */
  rank: number;
  /** Vector blocks of eight channels that make one output row (the last may run past the row). */
  blocks: number;
  /** All channels below maxChannel have scaling exactly 1: the residual is subtracted as an integer. */
  unitScaling: boolean;
  /** Usable channels per group, for the output JSON. */
  usablePerGroup: number[];
  /** Kernel constants, laid out as `constantLayout` describes. */
  constants: Uint8Array;
}

/** Byte offsets of the kernel constants; every entry is one 16-byte vector. */
export function constantLayout(slots: number, blocks: number, unitScaling: boolean) {
  const groupVectors = 3 * slots * 3; // (offset, keep, sentinel) for each triple x slot
  return {
    groupOffset: (triple: number, slot: number) => ((triple * slots + slot) * 3) * 16,
    groupKeep: (triple: number, slot: number) => ((triple * slots + slot) * 3 + 1) * 16,
    groupSentinel: (triple: number, slot: number) => ((triple * slots + slot) * 3 + 2) * 16,
    blockOffset: (block: number) => (groupVectors + block * (unitScaling ? 2 : 3)) * 16,
    blockMask: (block: number) => (groupVectors + block * 2 + 1) * 16,
    blockScaleLow: (block: number) => (groupVectors + block * 3 + 1) * 16,
    blockScaleHigh: (block: number) => (groupVectors + block * 3 + 2) * 16,
    bytes: (groupVectors + blocks * (unitScaling ? 2 : 3)) * 16,
  };
}

export function planChannels(p: ProbeValues): ChannelPlan {
  const C = p.numChannels;
  const maxChannel = Math.max(0, Math.min(C, p.maxChannel));
  const slots = Math.max(1, Math.ceil(C / groupCount));
  const rank = Math.floor(slots / 2);
  const blocks = Math.ceil(C / lanes);
  let unitScaling = true;
  for (let c = 0; c < maxChannel; c++) if (p.scaling[c] !== 1) unitScaling = false;

  const layout = constantLayout(slots, blocks, unitScaling);
  const bytes = new Uint8Array(layout.bytes);
  const view = new DataView(bytes.buffer);
  const setI16 = (at: number, lane: number, v: number) => view.setInt16(at + lane * 2, v, true);

  const usablePerGroup: number[] = [];
  for (let g = 0; g < groupCount; g++) {
    const triple = Math.floor(g / lanes), lane = g % lanes;
    const usable: number[] = [];
    for (let ch = g; ch < maxChannel; ch += groupCount) if (p.mask[ch]) usable.push(ch);
    const n = usable.length;
    usablePerGroup.push(n);
    // The values that take part, and the rank of the wanted one among them.
    const kept = n >= 3 ? usable.slice(0, -1) : n > 0 ? [usable[n - 1]] : [];
    const realRank = n >= 3 ? Math.floor(n / 2) : 0;
    const realCount = n === 0 ? 1 : kept.length;
    const below = rank - realRank;
    const sentinels: number[] = [];
    for (let i = 0; i < below; i++) sentinels.push(lowSentinel);
    if (n === 0) sentinels.push(0);
    while (sentinels.length + kept.length < slots) sentinels.push(highSentinel);
    if (below < 0 || slots - realCount - below < 0) throw new Error('internal error: sentinel counts');

    for (let j = 0; j < slots; j++) {
      const ch = g + groupCount * j;
      const isKept = kept.includes(ch);
      setI16(layout.groupOffset(triple, j), lane, ch < maxChannel ? p.offset[ch] : 0);
      setI16(layout.groupKeep(triple, j), lane, isKept ? -1 : 0);
      setI16(layout.groupSentinel(triple, j), lane, isKept ? 0 : sentinels.shift()!);
    }
  }

  for (let b = 0; b < blocks; b++) {
    for (let lane = 0; lane < lanes; lane++) {
      const c = b * lanes + lane;
      const active = c < maxChannel;
      setI16(layout.blockOffset(b), lane, active ? p.offset[c] : 0);
      if (unitScaling) setI16(layout.blockMask(b), lane, active ? -1 : 0);
      else {
        const at = lane < 4 ? layout.blockScaleLow(b) + lane * 4 : layout.blockScaleHigh(b) + (lane - 4) * 4;
        view.setFloat32(at, active ? p.scaling[c] : 0, true);
      }
    }
  }
  return { numChannels: C, maxChannel, slots, rank, blocks, unitScaling, usablePerGroup, constants: bytes };
}
