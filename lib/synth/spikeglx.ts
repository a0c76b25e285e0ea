/**
 * SpikeGLX's folder-per-probe layout and `.meta` files for a synthetic NP1.0 recording:
 * `<run>_g0/<run>_g0_imec0/<run>_g0_t0.imec0.{ap,lf}.{bin,meta}`. The meta has the keys
 * readers use (SpikeGLX_utils, the SpikeGLX fork's create_input_json) with NP1.0's real values.
 */
import path from 'node:path';
import { np1ReferenceChannel, np1RowPitchUm, np1ShankWidthUm, siteX } from './probe.js';

/** NP1.0 always acquires 384 channels; a smaller recording saves a subset of them. */
export const np1Channels = 384;

export interface SpikeGlxPaths {
  recordingDir: string;
  apBin: string;
  apMeta: string;
  lfBin: string;
  lfMeta: string;
}

export function spikeGlxPaths(dataDir: string, run: string): SpikeGlxPaths {
  const gate = `${run}_g0`;
  const dir = path.join(dataDir, gate, `${gate}_imec0`);
  const base = path.join(dir, `${gate}_t0.imec0`);
  return { recordingDir: dir, apBin: `${base}.ap.bin`, apMeta: `${base}.ap.meta`, lfBin: `${base}.lf.bin`, lfMeta: `${base}.lf.meta` };
}

export interface MetaParams {
  band: 'ap' | 'lf';
  channels: number;
  sampleRateHz: number;
  fileSizeBytes: number;
  /** The binary's path relative to the data folder (SpikeGLX writes an absolute one). */
  fileName: string;
  /** Distinguishes probes of a synthetic set, like a serial number. */
  serial: number;
  createTime: string;
  notes: string;
}

/** AP gain 500 and LF gain 250 on every channel, bank 0, external reference, AP filter on. */
function imroTable(): string {
  let s = `(0,${np1Channels})`;
  for (let c = 0; c < np1Channels; c++) s += `(${c} 0 0 500 250 1)`;
  return s;
}

/** SpikeGLX's shank map counts 2 columns of 480 rows; the reference site is marked unused. */
function shankMap(channels: number): string {
  let s = '(1,2,480)';
  for (let c = 0; c < channels; c++) s += `(0:${c % 2}:${Math.floor(c / 2)}:${c === np1ReferenceChannel ? 0 : 1})`;
  return s;
}

/** SpikeGLX measures x from the other shank edge than Kilosort's channel map does. */
function geomMap(channels: number): string {
  let s = `(PRB_1_4_0480_1,1,0,${np1ShankWidthUm})`;
  for (let c = 0; c < channels; c++) {
    s += `(0:${np1ShankWidthUm - siteX(c)}:${np1RowPitchUm * Math.floor(c / 2)}:${c === np1ReferenceChannel ? 0 : 1})`;
  }
  return s;
}

function chanMap(band: 'ap' | 'lf', channels: number): string {
  const prefix = band === 'ap' ? 'AP' : 'LF';
  const offset = band === 'ap' ? 0 : np1Channels;
  let s = `(${np1Channels},${np1Channels},1)`;
  for (let c = 0; c < channels; c++) s += `(${prefix}${c};${c + offset}:${c + offset})`;
  return s + `(SY0;${2 * np1Channels}:${2 * np1Channels})`;
}

export function spikeGlxMeta(p: MetaParams): string {
  const saved = p.channels + 1;
  const bytesPerSample = 2 * saved;
  const keys: Record<string, string | number> = {
    acqApLfSy: `${np1Channels},${np1Channels},1`,
    appVersion: '20230425',
    fileCreateTime: p.createTime,
    fileName: p.fileName.split(path.sep).join('/'),
    fileSizeBytes: p.fileSizeBytes,
    fileTimeSecs: p.fileSizeBytes / bytesPerSample / p.sampleRateHz,
    firstSample: 0,
    gateMode: 'Immediate',
    imAiRangeMax: 0.6,
    imAiRangeMin: -0.6,
    imChan0apGain: 500,
    imChan0lfGain: 250,
    imDatPrb_pn: 'PRB_1_4_0480_1',
    imDatPrb_port: 1,
    imDatPrb_slot: 2,
    imDatPrb_sn: 18000000000 + p.serial,
    imDatPrb_type: 0,
    imMaxInt: 512,
    imSampRate: p.sampleRateHz,
    imTrgSource: 0,
    nDataDirs: 1,
    nSavedChans: saved,
    snsApLfSy: p.band === 'ap' ? `${p.channels},0,1` : `0,${p.channels},1`,
    snsSaveChanSubset: p.channels === np1Channels ? 'all' : `0:${p.channels - 1},${2 * np1Channels}`,
    syncSourceIdx: 0,
    syncSourcePeriod: 1,
    trigMode: 'Immediate',
    typeImEnabled: 1,
    typeNiEnabled: 0,
    typeThis: 'imec',
    userNotes: p.notes,
    '~imroTbl': imroTable(),
    '~snsChanMap': chanMap(p.band, p.channels),
    '~snsGeomMap': geomMap(p.channels),
    '~snsShankMap': shankMap(p.channels),
  };
  return Object.entries(keys).map(([k, v]) => `${k}=${v}`).join('\n') + '\n';
}
