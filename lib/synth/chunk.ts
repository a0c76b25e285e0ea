/**
 * One chunk of a synthetic recording: the AP samples [t0, t0+n) and the LF samples that cover
 * the same time. Rendering a chunk needs only the recording's model and the chunk's own spikes,
 * so chunks render in any order, on any thread, with identical results.
 */
import { renderApChunk, type ChunkSpikes } from './render.js';
import { renderLfChunk } from './lfp.js';
import { mixSeed } from './random.js';
import { lfDecimation, type RecordingModel } from './model.js';

export interface ChunkJob {
  index: number;
  t0: number;
  n: number;
  /** LF samples [l0, l0+ln); ln is 0 when the LF band is not written. */
  l0: number;
  ln: number;
  spikes: ChunkSpikes;
}

export interface ChunkResult {
  index: number;
  ap: Int16Array;
  lf: Int16Array | undefined;
}

/** AP samples per chunk: 0.2 s, a multiple of the LF decimation, a few MiB at 384 channels. */
export const chunkSamples = 6000;

export function chunkCount(m: RecordingModel): number {
  return Math.ceil(m.samples / chunkSamples);
}

/** Chunk `index`'s sample ranges; the spikes are filled in by the caller. */
export function chunkRange(m: RecordingModel, index: number, withLf: boolean): Omit<ChunkJob, 'spikes'> {
  const t0 = index * chunkSamples;
  const n = Math.min(chunkSamples, m.samples - t0);
  const l0 = t0 / lfDecimation;
  const ln = withLf ? Math.max(0, Math.min(m.lfSamples, (t0 + n) / lfDecimation) - l0) : 0;
  return { index, t0, n, l0, ln: Math.floor(ln) };
}

/** Buffers of finished chunks, handed back for reuse (see recycleChunk in worker.ts). */
export interface SpareBuffers {
  take(length: number): Int16Array | undefined;
}

export function renderChunk(m: RecordingModel, job: ChunkJob, spares?: SpareBuffers): ChunkResult {
  const ap = renderApChunk(m, mixSeed(m.seed, 0x6170, job.index), job.t0, job.n, job.spikes, spares?.take(job.n * m.savedChannels));
  const lf = job.ln > 0 ? renderLfChunk(m, mixSeed(m.seed, 0x6c66, job.index), job.l0, job.ln, spares?.take(job.ln * m.savedChannels)) : undefined;
  return { index: job.index, ap, lf };
}
