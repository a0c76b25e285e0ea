/**
 * The standard synthetic recordings sorters are compared on (bench/kilosort4.ts): the same probe
 * and unit density with and without drift, so that a comparison says what drift costs each sorter.
 * Byte-identical for the same entry.
 */
export interface BenchmarkRecording {
  name: string;
  seconds: number;
  channels: number;
  seed: number;
  /** Upward movement of every unit over the recording, µm. */
  driftUm: number;
  note: string;
}

export const benchmarkSet: BenchmarkRecording[] = [
  { name: 'static', seconds: 30, channels: 64, seed: 1, driftUm: 0, note: 'no movement' },
  { name: 'drift', seconds: 30, channels: 64, seed: 2, driftUm: 25, note: 'every unit moves 25 µm up the probe over the recording (more than a site pitch)' },
];
