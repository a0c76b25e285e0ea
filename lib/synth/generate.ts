/**
 * `synthesize`: a set of synthetic Neuropixels 1.0 recordings in SpikeGLX or Open Ephys layout,
 * each with its ground truth. The same options give byte-identical files.
 *
 * Per recording, in the order a lab's acquisition would leave them: the binaries (written as
 * `.partial` files and renamed when complete), the ground truth, and last the `.meta` /
 * `structure.oebin` whose appearance says the recording is closed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PartialFile, writeFileAtomic } from '../base/atomicFile.js';
import { writeNpy } from '../formats/npy.js';
import { chooseChannels, silentChannels } from './channels.js';
import { chunkCount, chunkRange } from './chunk.js';
import { designLfp } from './lfp.js';
import {
  type RecordingModel, type SynthLayout, apSampleRateHz, lfSampleRateHz, lfDecimation,
  spikeGlxAp, spikeGlxLf, openEphysBand,
} from './model.js';
import { sitePositions, siteY } from './probe.js';
import { mixSeed } from './random.js';
import { recycleChunk, startRenderPool, type RenderPool, type RenderedChunk } from './worker.js';
import { BackgroundFlush } from './backgroundFlush.js';
import { spikesTouching } from './render.js';
import { fireUnits, placeUnits, type SpikeTrains, type UnitModel } from './units.js';
import { groundTruthFolder, writeGroundTruth } from './groundTruth.js';
import { spikeGlxMeta, spikeGlxPaths, np1Channels } from './spikeglx.js';
import { apFolder, lfFolder, openEphysPaths, structureOebin } from './openephys.js';

export type { SynthLayout } from './model.js';

export interface SynthOptions {
  outDir: string;
  recordings?: number;
  seconds?: number;
  channels?: number;
  /** Default: a quarter of the channels, at most 150. */
  units?: number;
  layout?: SynthLayout;
  seed?: number;
  /** Total slow upward drift of all units over each recording, µm. */
  driftUm?: number;
  lfp?: boolean;
  /** Units given refractory-period violations; default: the fastest-firing unit. */
  violationUnits?: number[];
  /** How units look and fire (units.ts); default `varied`. */
  unitModel?: UnitModel;
  /** Render threads; 0 renders in this thread. Default: the machine's cores, at most 4. */
  workers?: number;
  /** Called after each chunk is written. */
  onProgress?: (p: { recording: string; bytesDone: number; bytesTotal: number }) => void;
  /** Called when a recording is complete (its meta file written). */
  onRecording?: (r: SynthRecording) => void;
}

export interface SynthRecording {
  name: string;
  /** The folder that holds the AP binary: what recording discovery finds. */
  dir: string;
  apFile: string;
  lfFile: string | undefined;
  /** `.ap.meta` (+ `.lf.meta`) or `structure.oebin`. */
  metaFiles: string[];
  groundTruthDir: string;
  channels: number;
  savedChannels: number;
  samples: number;
  sampleRateHz: number;
  lfSamples: number;
  lfSampleRateHz: number;
  bitVolts: number;
  lfpBitVolts: number;
  units: number;
  spikes: number;
  surfaceChannel: number;
  violationUnits: number[];
}

export interface SynthSummary {
  outDir: string;
  dataDir: string;
  layout: SynthLayout;
  seed: number;
  recordings: SynthRecording[];
  bytesWritten: number;
  elapsedSeconds: number;
}

/** A bad option value; the message says which and why. */
export class SynthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SynthError';
  }
}

export const refractoryMs = 1.5;
export const violationFraction = 0.05;

type Callbacks = 'violationUnits' | 'onProgress' | 'onRecording';
type Resolved = Required<Omit<SynthOptions, 'units' | Callbacks>> & Pick<SynthOptions, Callbacks> & { units: number };

export function defaultUnits(channels: number): number {
  return Math.max(1, Math.min(150, Math.round(channels / 4)));
}

function resolve(o: SynthOptions): Resolved {
  const channels = o.channels ?? np1Channels;
  const r: Resolved = {
    outDir: o.outDir,
    recordings: o.recordings ?? 3,
    seconds: o.seconds ?? 20,
    channels,
    units: o.units ?? defaultUnits(channels),
    layout: o.layout ?? 'spikeglx',
    seed: o.seed ?? 1,
    driftUm: o.driftUm ?? 0,
    lfp: o.lfp ?? true,
    unitModel: o.unitModel ?? 'varied',
    workers: o.workers ?? Math.min(4, os.availableParallelism()),
    violationUnits: o.violationUnits,
    onProgress: o.onProgress,
    onRecording: o.onRecording,
  };
  const check = (ok: boolean, msg: string) => { if (!ok) throw new SynthError(msg); };
  check(typeof r.outDir === 'string' && r.outDir.length > 0, 'an output folder is required');
  check(Number.isInteger(r.recordings) && r.recordings >= 1 && r.recordings <= 999, `recordings must be a whole number from 1 to 999, got ${r.recordings}`);
  check(Number.isInteger(r.channels) && r.channels >= 4 && r.channels <= np1Channels, `channels must be a whole number from 4 to ${np1Channels} (one NP1.0 probe), got ${r.channels}`);
  const minSeconds = 0.01;
  check(Number.isFinite(r.seconds) && r.seconds >= minSeconds && r.seconds <= 24 * 3600, `seconds must be from ${minSeconds} to 86400, got ${r.seconds}`);
  check(Number.isInteger(r.units) && r.units >= 0 && r.units <= 1000, `units must be a whole number from 0 to 1000, got ${r.units}`);
  check(r.unitModel === 'varied' || r.unitModel === 'uniform', `unit model must be varied or uniform, got ${r.unitModel}`);
  check(r.layout === 'spikeglx' || r.layout === 'openephys', `layout must be spikeglx or openephys, got ${r.layout}`);
  check(Number.isInteger(r.seed) && r.seed >= 0 && r.seed <= 0xffffffff, `seed must be a whole number from 0 to 4294967295, got ${r.seed}`);
  check(Number.isFinite(r.driftUm) && Math.abs(r.driftUm) <= 1000, `drift must be a number of µm from -1000 to 1000, got ${r.driftUm}`);
  check(Number.isInteger(r.workers) && r.workers >= 0 && r.workers <= 64, `workers must be a whole number from 0 to 64, got ${r.workers}`);
  for (const v of r.violationUnits ?? []) {
    check(Number.isInteger(v) && v >= 0 && v < r.units, `violation unit ${v} does not exist (units are 0 to ${r.units - 1})`);
  }
  return r;
}

/** The model and spike trains of recording `index`: everything but the samples. */
export function modelRecording(o: SynthOptions, index: number): { model: RecordingModel; spikes: SpikeTrains; violators: number[] } {
  const r = resolve(o);
  const seed = mixSeed(r.seed, index);
  const samples = Math.round(r.seconds * apSampleRateHz);
  const channel = chooseChannels(seed, r.channels);
  const sites = sitePositions(r.channels);
  const silent = silentChannels(channel);
  const units = placeUnits(seed, { model: r.unitModel, count: r.units, maxYUm: siteY(channel.surfaceChannel), sites, silent }, apSampleRateHz);
  let violators = r.violationUnits;
  if (!violators) {
    let fastest = -1;
    for (let i = 0; i < units.count; i++) if (fastest < 0 || units.rateHz[i] > units.rateHz[fastest]) fastest = i;
    violators = fastest < 0 ? [] : [fastest];
  }
  const spikes = fireUnits(seed, units, { samples, sampleRateHz: apSampleRateHz, refractoryMs, violators: new Set(violators), violationFraction });
  const glx = r.layout === 'spikeglx';
  const model: RecordingModel = {
    seed, layout: r.layout, channels: r.channels, savedChannels: r.channels + (glx ? 1 : 0),
    samples, sampleRateHz: apSampleRateHz, lfSamples: Math.floor(samples / lfDecimation), lfSampleRateHz,
    ap: glx ? spikeGlxAp : openEphysBand, lf: glx ? spikeGlxLf : openEphysBand,
    channel, units, sites, silent: [...silent].sort((a, b) => a - b), driftUm: r.driftUm,
    lfp: designLfp(seed, channel, sites, silent),
  };
  return { model, spikes, violators: [...violators].sort((a, b) => a - b) };
}

export function recordingName(index: number): string {
  return `synth${String(index + 1).padStart(2, '0')}`;
}

export async function synthesize(options: SynthOptions): Promise<SynthSummary> {
  const r = resolve(options);
  const started = process.hrtime.bigint();
  const dataDir = path.join(r.outDir, 'data');
  // Never over an existing recording: it may be someone's real data under the same name.
  for (let i = 0; i < r.recordings; i++) {
    const name = recordingName(i);
    const dir = r.layout === 'spikeglx' ? path.dirname(spikeGlxPaths(dataDir, name).recordingDir) : openEphysPaths(dataDir, name).recordingDir;
    if (fs.existsSync(dir)) throw new SynthError(`${dir} already exists; synth never writes over a recording (choose another --out, or remove it first)`);
  }
  const pool = startRenderPool(r.workers);
  const recordings: SynthRecording[] = [];
  let bytesWritten = 0;
  try {
    for (let i = 0; i < r.recordings; i++) {
      const rec = await writeRecording(r, i, dataDir, pool);
      recordings.push(rec);
      r.onRecording?.(rec);
      bytesWritten += rec.samples * rec.savedChannels * 2 + (rec.lfFile ? rec.lfSamples * rec.savedChannels * 2 : 0);
    }
  } finally {
    await pool.close();
  }
  const elapsedSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { outDir: r.outDir, dataDir, layout: r.layout, seed: r.seed, recordings, bytesWritten, elapsedSeconds };
}

async function writeRecording(r: Resolved, index: number, dataDir: string, pool: RenderPool): Promise<SynthRecording> {
  const name = recordingName(index);
  const { model: m, spikes, violators } = modelRecording(r, index);
  const glx = r.layout === 'spikeglx';
  const sg = spikeGlxPaths(dataDir, name);
  const oe = openEphysPaths(dataDir, name);
  const dir = glx ? sg.recordingDir : oe.recordingDir;
  const apPath = glx ? sg.apBin : oe.apDat;
  const lfPath = r.lfp ? (glx ? sg.lfBin : oe.lfDat) : undefined;

  await renderBinaries(r, m, spikes, pool, name, apPath, lfPath);
  const gtDir = path.join(dir, groundTruthFolder);
  writeGroundTruth(gtDir, m, spikes, { seed: r.seed, seconds: r.seconds, refractoryMs, violators, violationFraction });

  const metaFiles: string[] = [];
  if (glx) {
    const common = { channels: m.channels, serial: mixSeed(r.seed, index) % 1000000, createTime: createTime(index), notes: `synthetic recording (ephys-make synth, seed ${r.seed})` };
    const bands: Array<['ap' | 'lf', string, string, number, number]> = [['ap', sg.apBin, sg.apMeta, m.sampleRateHz, m.samples]];
    if (lfPath) bands.push(['lf', sg.lfBin, sg.lfMeta, m.lfSampleRateHz, m.lfSamples]);
    for (const [band, bin, meta, rate, n] of bands) {
      const text = spikeGlxMeta({ ...common, band, sampleRateHz: rate, fileSizeBytes: n * m.savedChannels * 2, fileName: path.relative(dataDir, bin) });
      writeFileAtomic(meta, text);
      metaFiles.push(meta);
    }
  } else {
    writeNpy(oe.apTimestamps, { dtype: 'int64', shape: [m.samples], data: sampleNumbers(m.samples) });
    const streams: Array<{ folder: string; sampleRateHz: number; bitVolts: number; band: 'AP' | 'LFP' }> = [{ folder: apFolder, sampleRateHz: m.sampleRateHz, bitVolts: m.ap.uvPerCount, band: 'AP' }];
    if (lfPath) {
      writeNpy(oe.lfTimestamps, { dtype: 'int64', shape: [m.lfSamples], data: sampleNumbers(m.lfSamples) });
      streams.push({ folder: lfFolder, sampleRateHz: m.lfSampleRateHz, bitVolts: m.lf.uvPerCount, band: 'LFP' });
    }
    writeFileAtomic(oe.oebin, structureOebin(m.channels, streams));
    metaFiles.push(oe.oebin);
  }

  return {
    name, dir, apFile: apPath, lfFile: lfPath, metaFiles, groundTruthDir: gtDir,
    channels: m.channels, savedChannels: m.savedChannels, samples: m.samples, sampleRateHz: m.sampleRateHz,
    lfSamples: m.lfSamples, lfSampleRateHz: m.lfSampleRateHz, bitVolts: m.ap.uvPerCount, lfpBitVolts: m.lf.uvPerCount,
    units: m.units.count, spikes: spikes.times.length, surfaceChannel: m.channel.surfaceChannel, violationUnits: violators,
  };
}

/** Fixed, seed-independent creation times: part of what makes reruns byte-identical. */
function createTime(index: number): string {
  const minutes = 10 * 60 + index * 30;
  return `2024-01-15T${String(Math.floor(minutes / 60) % 24).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}:00`;
}

function sampleNumbers(n: number): BigInt64Array {
  const a = new BigInt64Array(n);
  for (let i = 0; i < n; i++) a[i] = BigInt(i);
  return a;
}

/**
 * Render every chunk on the pool and write them in order, keeping a few chunks in flight per
 * worker so neither core waits for the disk. Both binaries are `.partial` until complete.
 */
async function renderBinaries(r: Resolved, m: RecordingModel, spikes: SpikeTrains, pool: RenderPool, name: string, apPath: string, lfPath: string | undefined): Promise<void> {
  await pool.broadcast({ kind: 'model', model: m });
  const ap = new PartialFile(apPath);
  const lf = lfPath ? new PartialFile(lfPath) : undefined;
  const total = chunkCount(m);
  const bytesTotal = (m.samples + (lf ? m.lfSamples : 0)) * m.savedChannels * 2;
  const inFlight = Math.max(2, 4 * pool.size);
  const queue: Array<Promise<RenderedChunk>> = [];
  let next = 0;
  const submit = () => {
    const range = chunkRange(m, next++, lf !== undefined);
    const [from, to] = spikesTouching(spikes.times, range.t0, range.n);
    // slice, not subarray: a view would send the whole spike list to the worker each time.
    queue.push(pool.run({ kind: 'chunk', job: { ...range, spikes: { times: spikes.times.slice(from, to), units: spikes.units.slice(from, to), scales: spikes.scales.slice(from, to) } } }) as Promise<RenderedChunk>);
  };
  const apFlush = new BackgroundFlush(ap.tmpPath);
  const lfFlush = lf ? new BackgroundFlush(lf.tmpPath) : undefined;
  const flushers = lfFlush ? [apFlush, lfFlush] : [apFlush];
  try {
    while (next < total && queue.length < inFlight) submit();
    let bytesDone = 0;
    while (queue.length > 0) {
      const res = await queue.shift()!;
      if (next < total) submit();
      ap.write(new Uint8Array(res.ap.buffer, res.ap.byteOffset, res.ap.byteLength));
      bytesDone += res.ap.byteLength;
      apFlush.wrote(res.ap.byteLength);
      if (lf && res.lf) {
        lf.write(new Uint8Array(res.lf.buffer, res.lf.byteOffset, res.lf.byteLength));
        bytesDone += res.lf.byteLength;
        lfFlush?.wrote(res.lf.byteLength);
      }
      recycleChunk(pool, res);
      r.onProgress?.({ recording: name, bytesDone, bytesTotal });
    }
    for (const f of flushers) await f.finish();
    ap.commit();
    lf?.commit();
  } catch (err) {
    for (const f of flushers) await f.finish().catch(() => undefined);
    ap.abort();
    lf?.abort();
    // Let chunks still rendering settle, so no rejection is left unhandled.
    await Promise.allSettled(queue);
    throw err;
  }
}
