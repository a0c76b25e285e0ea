/**
 * Turns probe_info.json's per-channel values into the constants of the SIMD kernel.
 *
 * The Allen program (SpikeBandMedianSubtraction, Main.cpp), per time sample:
 *   o[i] = x[i] - offset[i]                              for i < maxChannel (int16, wraps)
 *   r[g] = "median" of o[ch], ch = g, g+24, ... < maxChannel with mask[ch], for 24 ADC groups g
 *   y[i] = o[i] - int(float(r[i % 24]) * scaling[i])     for i < maxChannel (int16, wraps)
 *   y[i] = x[i]                                          for i >= maxChannel (untouched)
 *
 * Its "median": the n usable values are collected in channel order with idx = n - 1, then
 * `std::sort(buf, buf + idx)` sorts only the first n - 1 and `buf[idx / 2]` is taken. For n >= 2
 * that is the order statistic floor((n-1)/2) of the first n - 1 values (the last usable channel
 * never counts; for n = 2 the result is the first value, unsorted); for n = 1 the only value.
 * For n = 0 the program's sort is given an inverted range and it crashes (segmentation fault)
 * before writing anything; here such a group's residual is 0, so nothing is subtracted.
 *
 * Why lanes work: 24 = 3 x 8, so the eight int16 lanes of the vector loaded at channel 24j + 8t
 * hold one channel of each group 8t..8t+7. A comparator network applied to the `slots` vectors
 * of a sample ranks eight groups at once. Groups differ in how many usable channels they have,
 * so every lane is padded with sentinels (-32768 below, 32767 above, 0 for an empty group)
 * placed so that the wanted element sits at the same rank in every lane; ties with real values
 * at the int16 limits cannot change an order statistic.
 */

export const groupCount = 24;
/**
 * The program's channel count. Channels at or above it (SpikeGLX's sync channel, the 385th) are
 * not neural: they are copied unchanged and never join a group, as when the program is given the
 * 384 channels it was written for.
 */
export const allenChannels = 384;
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
  /** Values per lane fed to the network: slot j holds channel g + 24j of group g. */
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

/** The channels whose values take part in group g's selection, and the rank wanted among them. */
interface GroupSelection {
  usable: number;
  kept: number[];
  rank: number;
}

/** The program's choice for one group, in channel order (see the comment at the top). */
export function groupSelection(usable: number[]): GroupSelection {
  const n = usable.length;
  if (n === 0) return { usable: 0, kept: [], rank: 0 };
  if (n === 1) return { usable: 1, kept: usable, rank: 0 };
  return { usable: n, kept: usable.slice(0, n - 1), rank: Math.floor((n - 1) / 2) };
}

export function planChannels(p: ProbeValues): ChannelPlan {
  const C = p.numChannels;
  const maxChannel = Math.max(0, Math.min(C, allenChannels, p.maxChannel));
  const blocks = Math.ceil(C / lanes);
  let unitScaling = true;
  for (let c = 0; c < maxChannel; c++) if (p.scaling[c] !== 1) unitScaling = false;

  const groups: GroupSelection[] = [];
  for (let g = 0; g < groupCount; g++) {
    const usable: number[] = [];
    for (let ch = g; ch < maxChannel; ch += groupCount) if (p.mask[ch]) usable.push(ch);
    groups.push(groupSelection(usable));
  }
  // The fewest slots and the lowest common rank that hold every group's values and sentinels:
  // the network's size grows with both. An empty group counts its 0 sentinel as a real value.
  const realCount = (s: GroupSelection) => Math.max(1, s.kept.length);
  const rank = Math.max(...groups.map((s) => s.rank));
  let slots = rank + 1;
  for (const s of groups) {
    slots = Math.max(slots, rank - s.rank + realCount(s));
    for (const ch of s.kept) slots = Math.max(slots, Math.floor(ch / groupCount) + 1);
  }

  const layout = constantLayout(slots, blocks, unitScaling);
  const bytes = new Uint8Array(layout.bytes);
  const view = new DataView(bytes.buffer);
  const setI16 = (at: number, lane: number, v: number) => view.setInt16(at + lane * 2, v, true);

  groups.forEach((s, g) => {
    const triple = Math.floor(g / lanes), lane = g % lanes;
    const sentinels: number[] = [];
    for (let i = 0; i < rank - s.rank; i++) sentinels.push(lowSentinel);
    if (s.usable === 0) sentinels.push(0);
    while (sentinels.length + s.kept.length < slots) sentinels.push(highSentinel);
    if (sentinels.length + s.kept.length !== slots) throw new Error('internal error: sentinel counts');
    for (let j = 0; j < slots; j++) {
      const ch = g + groupCount * j;
      const isKept = s.kept.includes(ch);
      setI16(layout.groupOffset(triple, j), lane, ch < maxChannel ? p.offset[ch] : 0);
      setI16(layout.groupKeep(triple, j), lane, isKept ? -1 : 0);
      setI16(layout.groupSentinel(triple, j), lane, isKept ? 0 : sentinels.shift()!);
    }
  });

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
  const usablePerGroup = groups.map((s) => s.usable);
  return { numChannels: C, maxChannel, slots, rank, blocks, unitScaling, usablePerGroup, constants: bytes };
}
