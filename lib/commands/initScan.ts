/**
 * What `ephys-make init` finds under a data folder: SpikeGLX probe folders (`*.ap.bin` with its
 * `.ap.meta`) and Open Ephys recordings (`continuous/Neuropix-*\/continuous.dat` with
 * `structure.oebin`), each described from its own metadata (probe type, channels, sample rate,
 * length). Reads metadata and file sizes only, never samples.
 */
import fs from 'node:fs';
import path from 'node:path';
import fg from 'fast-glob';
import { metaPathForBin, readSpikeGlxMeta } from '../formats/spikeglx.js';
import { isNp2Type } from '../formats/probeTypes.js';
import { describeFolder, readOebin, type OeStream } from '../formats/openEphys.js';
import { formatDiagnostic } from '../base/diagnostic.js';

export type FoundLayout = 'spikeglx' | 'openephys';

export interface FoundRecording {
  layout: FoundLayout;
  /** The recording folder, absolute. */
  dir: string;
  marker: string;
  /** 'NP1.0', 'NP2.0 4-shank', '3A', ... ; undefined when the metadata could not be read. */
  probe?: string;
  partNumber?: string;
  isNp2: boolean;
  /** Channels interleaved in the AP file, and how many of them are AP sites. */
  channels?: number;
  apChannels?: number;
  sampleRateHz?: number;
  seconds?: number;
  /** Where the LFP band is: a `.lf.bin`, an Open Ephys LFP folder, or none (NP2.0: one wide band). */
  lfp?: string;
  /** Open Ephys: the AP stream's folder under continuous/. */
  apFolder?: string;
  /** What is wrong or unusual, in words for the user. */
  problems: string[];
}

const ignore = ['**/.ephys-make/**', '**/node_modules/**', '**/.git/**'];

function fileSize(p: string): number | undefined {
  return fs.statSync(p, { throwIfNoEntry: false })?.size;
}

function lengthSeconds(bytes: number | undefined, channels: number | undefined, rateHz: number | undefined): number | undefined {
  return bytes !== undefined && channels && rateHz ? bytes / (2 * channels) / rateHz : undefined;
}

/** SpikeGLX's probe type code in words (NP2.0 by its shank count). */
export function probeName(typeCode: number | undefined, shankCount: number): string {
  if (typeCode === undefined) return '3A';
  if (typeCode === 0) return 'NP1.0';
  if (isNp2Type(typeCode)) return shankCount > 1 ? `NP2.0 ${shankCount}-shank` : 'NP2.0 1-shank';
  return `NP${typeCode}`;
}

function spikeGlx(marker: string, cwd: string): FoundRecording {
  const rec: FoundRecording = { layout: 'spikeglx', dir: path.dirname(marker), marker, isNp2: false, problems: [] };
  const metaPath = metaPathForBin(marker);
  if (!fs.existsSync(metaPath)) {
    rec.problems.push(`no ${path.basename(metaPath)} beside it (SpikeGLX writes it when it closes the file: still recording?)`);
    return rec;
  }
  const meta = readSpikeGlxMeta(metaPath);
  if (!meta.ok) {
    rec.problems.push(...meta.diagnostics.map((d) => formatDiagnostic(d, cwd).split('\n')[0]));
    return rec;
  }
  const m = meta.value;
  rec.probe = probeName(m.probeTypeCode, m.shankCount);
  rec.partNumber = m.partNumber;
  rec.isNp2 = isNp2Type(m.probeTypeCode);
  rec.channels = m.ephysParams.num_channels;
  rec.apChannels = m.channelCounts.ap;
  rec.sampleRateHz = m.ephysParams.sample_rate;
  rec.seconds = lengthSeconds(fileSize(marker), rec.channels, rec.sampleRateHz);
  if (m.ephysParams.lfp_band_file) rec.lfp = path.basename(m.ephysParams.lfp_band_file);
  return rec;
}

function openEphys(dir: string, markers: string[]): FoundRecording {
  const folders = markers.map((m) => path.basename(path.dirname(m)));
  const oebinPath = [path.join(dir, 'structure.oebin'), path.join(path.dirname(dir), 'structure.oebin')].find((p) => fs.existsSync(p));
  const base: FoundRecording = { layout: 'openephys', dir, marker: markers[0], isNp2: false, problems: [] };
  if (!oebinPath) {
    // Without the oebin, a folder's name still says which band it holds.
    const ap = folders.filter((f) => describeFolder(f).kind !== 'lfp');
    const apFolder = ap[0] ?? folders[0];
    base.apFolder = apFolder;
    base.marker = markers[folders.indexOf(apFolder)];
    base.problems.push('no structure.oebin: channel count, sample rate and µV per bit are not known (set them under params.ephys_params)');
    return base;
  }
  const oebin = readOebin(oebinPath);
  if (!oebin.ok) {
    base.problems.push(...oebin.diagnostics.map((d) => formatDiagnostic(d).split('\n')[0]));
    return base;
  }
  // Probes whose AP stream is on disk here.
  const probes = oebin.value.probes.filter((p) => p.ap && folders.includes(p.ap.folder));
  if (!probes.length) {
    base.problems.push(`structure.oebin lists no Neuropixels AP stream among ${folders.join(', ')}`);
    return base;
  }
  const probe = probes[0];
  const ap = probe.ap as OeStream;
  const rec: FoundRecording = {
    ...base,
    marker: markers[folders.indexOf(ap.folder)],
    apFolder: ap.folder,
    channels: ap.numChannels,
    apChannels: ap.numChannels,
    sampleRateHz: ap.sampleRateHz,
    seconds: lengthSeconds(fileSize(ap.continuousFile), ap.numChannels, ap.sampleRateHz),
    // The Allen folder names: 3A from NPX extraction; a band pair is NP1.0-style; one wide band is NP2.0.
    probe: ap.acq === '3a' ? '3A' : probe.lfp ? 'NP1.0' : 'NP2.0',
    isNp2: ap.acq !== '3a' && !probe.lfp,
    lfp: probe.lfp ? `${probe.lfp.folder}/continuous.dat` : undefined,
  };
  if (probes.length > 1) {
    rec.problems.push(`${probes.length} probes (${probes.map((p) => p.ap!.folder).join(', ')}): the pipeline processes the first; a recording folder is one probe`);
  }
  return rec;
}

export interface ScanResult { spikeglx: FoundRecording[]; openephys: FoundRecording[] }

export function scanForRecordings(dataDir: string, cwd: string): ScanResult {
  const opts = { cwd: dataDir, absolute: true, onlyFiles: true, ignore, suppressErrors: true, followSymbolicLinks: true };
  const sglx = fg.sync('**/*.ap.bin', opts).map((p) => path.normalize(p)).sort();
  const byFolder = new Map<string, string[]>();
  for (const m of sglx) byFolder.set(path.dirname(m), [...(byFolder.get(path.dirname(m)) ?? []), m]);
  const spikeglx = [...byFolder.values()].map((markers) => {
    const rec = spikeGlx(markers[0], cwd);
    if (markers.length > 1) rec.problems.push(`${markers.length} .ap.bin files in one folder (${markers.map((m) => path.basename(m)).join(', ')}): the pipeline takes the first`);
    return rec;
  });
  const oe = fg.sync('**/continuous/Neuropix-*/continuous.dat', opts).map((p) => path.normalize(p)).sort();
  const byRecording = new Map<string, string[]>();
  for (const m of oe) {
    const dir = path.dirname(path.dirname(path.dirname(m)));
    byRecording.set(dir, [...(byRecording.get(dir) ?? []), m]);
  }
  const openephys = [...byRecording].map(([dir, markers]) => openEphys(dir, markers));
  return { spikeglx, openephys };
}

/**
 * The `match` glob for Open Ephys recordings: the AP folders seen, by family (`Neuropix-*-100.0`
 * of the PXI plugin up to GUI 0.5 and NPX extraction, `Neuropix-*-AP` from GUI 0.6), so later
 * recordings of the same rig match too.
 */
export function openEphysMatch(recs: FoundRecording[]): string {
  const families = new Set<string>();
  for (const r of recs) {
    const f = r.apFolder ?? 'Neuropix-*-100.0';
    if (/^Neuropix-.*-100\.0$/.test(f)) families.add('Neuropix-*-100.0');
    else if (/-AP$/.test(f)) families.add('Neuropix-*-AP');
    else families.add(f);
  }
  const list = [...families].sort();
  return `**/continuous/${list.length === 1 ? list[0] : `{${list.join(',')}}`}/continuous.dat`;
}
