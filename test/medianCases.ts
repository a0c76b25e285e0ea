/**
 * The crafted 384-channel recordings on which the real SpikeBandMedianSubtraction program was run
 * to make test/fixtures/golden/median_subtraction/crafted/ (see its README). Each input is
 * generated here from a seed rather than stored: the manifest keeps the SHA-256 of every input,
 * so a change to this file that would change an input is caught before any comparison.
 */
import { SeededRandom } from '../lib/numeric/seededRandom.js';

export const channels = 384;
export const groups = 24;

export interface ProbeJson {
  channel: number[];
  offset: number[];
  scaling: number[];
  mask: Array<boolean | number>;
  surface_channel: number;
  air_channel: number;
}

export interface CraftedCase {
  name: string;
  /** What the case exercises, for the manifest and failure messages. */
  about: string;
  samples: number;
  /** The program's third argument (the module passes int(air_channel)). */
  maxChannel: number;
  /** Small cases are stored whole; large ones as hashes and sampled windows. */
  storeWhole: boolean;
  /** The program is expected to crash on this one (no output to compare). */
  programCrashes?: boolean;
  make(): { data: Int16Array; probe: ProbeJson };
}

function rng(seed: number) {
  const r = new SeededRandom(seed);
  return {
    int: (lo: number, hi: number) => lo + r.nextInt(hi - lo + 1),
    float: () => r.nextFloat(),
    /** Standard normal (Box-Muller). */
    normal: () => Math.sqrt(-2 * Math.log(1 - r.nextFloat())) * Math.cos(2 * Math.PI * r.nextFloat()),
    pick: (n: number, k: number) => [...r.sampleIndices(n, k)].sort((a, b) => a - b),
  };
}

function probe(offset: number[], scaling: number[], mask: Array<boolean | number>, air: number): ProbeJson {
  return { channel: Array.from({ length: channels }, (_, i) => i), offset, scaling, mask, surface_channel: air, air_channel: air };
}

/** A mask giving group g exactly sizes[g] usable channels below maxChannel, chosen at random. */
function maskWithGroupSizes(r: ReturnType<typeof rng>, sizes: number[], maxChannel: number): boolean[] {
  const mask = new Array<boolean>(channels).fill(false);
  sizes.forEach((n, g) => {
    const members: number[] = [];
    for (let ch = g; ch < maxChannel; ch += groups) members.push(ch);
    if (n > members.length) throw new Error(`group ${g} has only ${members.length} channels below ${maxChannel}`);
    for (const k of r.pick(members.length, n)) mask[members[k]] = true;
  });
  return mask;
}

function uniformData(r: ReturnType<typeof rng>, samples: number): Int16Array {
  return Int16Array.from({ length: samples * channels }, () => r.int(-32768, 32767));
}

/** Noise, a common-mode signal per ADC group, and a DC level per channel, like a real AP band. */
function realisticData(r: ReturnType<typeof rng>, samples: number, level: number[]): Int16Array {
  const x = new Int16Array(samples * channels);
  const common = new Float64Array(groups);
  for (let s = 0; s < samples; s++) {
    for (let g = 0; g < groups; g++) common[g] = 40 * r.normal();
    for (let c = 0; c < channels; c++) x[s * channels + c] = Math.round(level[c] + common[c % groups] + 10 * r.normal());
  }
  return x;
}

export const craftedCases: CraftedCase[] = [
  {
    name: 'group-sizes-unit',
    about: 'every group size 1..16 (odd and even), full-range int16 values, integer offsets, unit scaling',
    samples: 96, maxChannel: 384, storeWhole: true,
    make() {
      const r = rng(1);
      const sizes = [...Array.from({ length: 16 }, (_, i) => i + 1), 2, 4, 6, 8, 16, 15, 3, 14];
      const offset = Array.from({ length: channels }, () => r.int(-3000, 3000));
      return { data: uniformData(r, this.samples), probe: probe(offset, new Array(channels).fill(1.0), maskWithGroupSizes(r, sizes, 384), 384) };
    },
  },
  {
    name: 'group-sizes-scaled-air331',
    about: 'group sizes 1..14 below air channel 331, channels above copied, scaling in [0.2, 1.8]',
    samples: 96, maxChannel: 331, storeWhole: true,
    make() {
      const r = rng(2);
      const sizes = Array.from({ length: groups }, (_, g) => 1 + ((g * 5) % 13));
      const offset = Array.from({ length: channels }, () => r.int(-3000, 3000));
      const scaling = Array.from({ length: channels }, () => Math.round((0.2 + 1.6 * r.float()) * 1000) / 1000);
      return { data: uniformData(r, this.samples), probe: probe(offset, scaling, maskWithGroupSizes(r, sizes, 331), 331) };
    },
  },
  {
    name: 'realistic',
    about: 'AP-band-like data, reference channel 191 and five noisy channels masked (15 or 16 usable per group), unit scaling',
    samples: 128, maxChannel: 384, storeWhole: true,
    make() {
      const r = rng(3);
      const level = Array.from({ length: channels }, () => r.int(-150, 150));
      const data = realisticData(r, this.samples, level);
      const mask = new Array<boolean>(channels).fill(true);
      for (const c of [191, ...r.pick(channels, 5)]) mask[c] = false;
      // depth_estimation's offsets: the per-channel median, so not exactly the level.
      const offset = level.map((v) => v + r.int(-3, 3));
      return { data, probe: probe(offset, new Array(channels).fill(1.0), mask, 384) };
    },
  },
  {
    name: 'extremes',
    about: 'values at the int16 limits, fractional offsets (truncated), scalings whose product leaves the int range, numeric mask entries',
    samples: 64, maxChannel: 384, storeWhole: true,
    make() {
      const r = rng(4);
      const limits = [-32768, -32767, -32766, -1, 0, 1, 32765, 32766, 32767];
      const data = Int16Array.from({ length: this.samples * channels }, () => (r.float() < 0.7 ? limits[r.int(0, limits.length - 1)] : r.int(-32768, 32767)));
      const offsetChoices = [-32768, 32767, 12.7, -12.7, 0.5, -0.5, 1000.99, -1000.99, 0, 1, -1];
      const offset = Array.from({ length: channels }, () => offsetChoices[r.int(0, offsetChoices.length - 1)]);
      const scalingChoices = [1, 0.5, -1, 0, 65535.9, 65536, 70000, -70000, 1e6, 3e38, 1e39, 1e-6, 0.999999, 1.0000001];
      const scaling = Array.from({ length: channels }, () => scalingChoices[r.int(0, scalingChoices.length - 1)]);
      const maskChoices: Array<boolean | number> = [true, false, 1, 0, 2, -1, 0.5];
      const mask = Array.from({ length: channels }, () => maskChoices[r.int(0, maskChoices.length - 1)]);
      for (let g = 0; g < groups; g++) mask[g] = true; // no empty group
      return { data, probe: probe(offset, scaling, mask, 384) };
    },
  },
  {
    name: 'air-47',
    about: 'air channel 47: groups of two channels (the program takes the first, unsorted) and of one',
    samples: 64, maxChannel: 47, storeWhole: true,
    make() {
      const r = rng(5);
      const offset = Array.from({ length: channels }, () => r.int(-100, 100));
      const mask = new Array<boolean>(channels).fill(true);
      for (const c of [5, 30, 41]) mask[c] = false;
      return { data: uniformData(r, this.samples), probe: probe(offset, new Array(channels).fill(1.0), mask, 47) };
    },
  },
  {
    name: 'air-above-384',
    about: 'air channel 400, beyond the 384 channels: the program processes all 384',
    samples: 32, maxChannel: 400, storeWhole: true,
    make() {
      const r = rng(6);
      const offset = Array.from({ length: channels }, () => r.int(-100, 100));
      const mask = new Array<boolean>(channels).fill(true);
      mask[191] = false;
      return { data: uniformData(r, this.samples), probe: probe(offset, new Array(channels).fill(1.0), mask, 400) };
    },
  },
  {
    name: 'long',
    about: '12345 samples: more than one 8 MiB chunk, a length that is a multiple of neither the chunk nor 4 KiB, air channel 370, scaling in [0.5, 1.5]',
    samples: 12345, maxChannel: 370, storeWhole: false,
    make() {
      const r = rng(7);
      const level = Array.from({ length: channels }, () => r.int(-150, 150));
      const data = realisticData(r, this.samples, level);
      const mask = new Array<boolean>(channels).fill(true);
      for (const c of [191, ...r.pick(channels, 20)]) mask[c] = false;
      const scaling = Array.from({ length: channels }, () => Math.round((0.5 + r.float()) * 100) / 100);
      return { data, probe: probe(level, scaling, mask, 370) };
    },
  },
  {
    name: 'empty-group',
    about: 'group 7 has no usable channel: the program crashes before writing anything',
    samples: 16, maxChannel: 384, storeWhole: true, programCrashes: true,
    make() {
      const r = rng(8);
      const mask = Array.from({ length: channels }, (_, c) => c % groups !== 7);
      return { data: uniformData(r, this.samples), probe: probe(new Array(channels).fill(0), new Array(channels).fill(1.0), mask, 384) };
    },
  },
];

/**
 * Sample windows kept of the outputs that are not stored whole: the start, both sides of the
 * end of the built-in's first full chunk (8 MiB of 384-channel rows, rounded down to 256 rows so that
 * both outputs' chunks are whole 4 KiB blocks), the end. They only say where a difference is;
 * the hashes cover every byte.
 */
export function sampledWindows(samples: number): Array<[number, number]> {
  const width = 16;
  const boundary = 10752;
  return [[0, width], [boundary - width, boundary + width], [samples - width, samples]];
}
