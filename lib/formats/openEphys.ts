/**
 * Open Ephys recordings: `structure.oebin` (the binary format's JSON description of its
 * continuous streams) and the folder names of the Allen layout, read into ephys_params values.
 *
 * Folder names seen in practice, under `continuous/`:
 *   Neuropix-3a-100.0 / .1            3A, NPX extraction (AP / LFP)
 *   Neuropix-PXI-100.0 / .1 (.2 / .3)  PXI plugin up to GUI 0.5: even index AP, odd LFP, one pair per probe
 *   Neuropix-PXI-100.ProbeA-AP / -LFP  GUI 0.6 and later
 *   Neuropix-PXI-100.ProbeA            NP2.0 in GUI 0.6: one wide-band stream
 */
import fs from 'node:fs';
import path from 'node:path';
import { fail, ok, type Diagnostic, type Result } from '../base/diagnostic.js';
import { referenceChannelsForAcq, type OpenEphysAcq } from './probeTypes.js';

export type StreamKind = 'ap' | 'lfp' | 'other';

export interface FolderInfo {
  kind: StreamKind;
  /** Groups the AP and LFP folders of one probe: the folder name without its band. */
  probe: string;
  acq?: OpenEphysAcq;
  referenceChannels: number[];
}

export interface OeStream extends FolderInfo {
  /** Folder under `continuous/`, without a trailing slash. */
  folder: string;
  sampleRateHz: number;
  numChannels: number;
  bitVolts: number;
  continuousFile: string;
}

export interface OeProbe { probe: string; ap?: OeStream; lfp?: OeStream }

export interface Oebin {
  file: string;
  guiVersion?: string;
  streams: OeStream[];
  probes: OeProbe[];
}

/**
 * The ephys_params values an Open Ephys probe determines. ap_band_file is left out on purpose:
 * stages after median subtraction point it at the subtracted copy, and a recording's values are
 * layered over the stages' own.
 */
export interface OpenEphysEphysParams {
  sample_rate: number;
  num_channels: number;
  bit_volts: number;
  reference_channels: number[];
  reorder_lfp_channels: boolean;
  lfp_sample_rate?: number;
  lfp_band_file?: string;
}

/** What a continuous folder's name says about it. */
export function describeFolder(folderName: string): FolderInfo {
  const name = folderName.replace(/[\\/]+$/, '');
  if (!/^Neuropix/i.test(name)) return { kind: 'other', probe: name, referenceChannels: [] };
  const acq: OpenEphysAcq | undefined = /^Neuropix-3a/i.test(name) ? '3a' : /PXI/i.test(name) ? 'PXI' : undefined;
  // OEFileInfo's rule: '3b' in the name means [191], else the 3A sites (its list also has 190, a
  // slip we do not copy). PXI folders hold 3B/NP1.0 probes, so they get [191] too.
  const referenceChannels = [...(acq === '3a' || (!acq && !/3b/i.test(name)) ? referenceChannelsForAcq('3a') : referenceChannelsForAcq('PXI'))];
  const band = /^(.*)-(AP|LFP)$/i.exec(name);
  if (band) return { kind: band[2].toUpperCase() === 'AP' ? 'ap' : 'lfp', probe: band[1], acq, referenceChannels };
  const sub = /^(.*)\.(\d+)$/.exec(name);
  if (sub) {
    const index = Number(sub[2]);
    return { kind: index % 2 === 0 ? 'ap' : 'lfp', probe: `${sub[1]}.${index - (index % 2)}`, acq, referenceChannels };
  }
  // A single wide-band stream (NP2.0): decided by its sample rate where one is known.
  return { kind: 'other', probe: name, acq, referenceChannels };
}

/**
 * The GUI writes bit_volts as a float32 printed to 16-17 digits (0.1949999928474426 for 0.195).
 * Such a value becomes the shortest decimal with the same float32 value, which is what the
 * modules are given; a value already short (hand-written, or exact like 0.762939453125) stays.
 */
export function float32Decimal(v: number): number {
  if (!Number.isFinite(v) || significantDigits(v) < 15) return v;
  const f = Math.fround(v);
  for (let digits = 1; digits <= 9; digits++) {
    const candidate = Number(v.toPrecision(digits));
    if (Math.fround(candidate) === f) return candidate;
  }
  return v;
}

function significantDigits(v: number): number {
  const mantissa = Math.abs(v).toExponential().split('e')[0];
  return mantissa.replace('.', '').length;
}

export function readOebin(oebinPath: string): Result<Oebin> {
  let text: string;
  try { text = fs.readFileSync(oebinPath, 'utf8'); } catch (e) {
    return fail({ file: oebinPath, message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
  }
  return parseOebin(text, oebinPath);
}

export function parseOebin(text: string, file: string): Result<Oebin> {
  let doc: any;
  try { doc = JSON.parse(text.replace(/^\uFEFF/, '')); } catch (e) {
    return fail({ file, ...jsonErrorPlace(text, e as Error), message: `not valid JSON: ${(e as Error).message}` });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return fail({ file, message: 'expected a JSON object with a \'continuous\' list' });
  if (!Array.isArray(doc.continuous)) return fail({ file, message: `key 'continuous' is ${doc.continuous === undefined ? 'missing' : 'not a list'}` });
  const problems: Diagnostic[] = [];
  const streams: OeStream[] = [];
  const dir = path.dirname(file);
  doc.continuous.forEach((s: any, i: number) => {
    const at = `continuous[${i}]`;
    const bad = (message: string) => { problems.push({ file, message }); };
    if (typeof s !== 'object' || s === null) return bad(`${at} is not an object`);
    const folder = typeof s.folder_name === 'string' ? s.folder_name.replace(/[\\/]+$/, '') : undefined;
    if (!folder) return bad(`key '${at}.folder_name' is ${s.folder_name === undefined ? 'missing' : 'not a string'}`);
    const where = `${at} (${folder})`;
    const sampleRateHz = positiveNumber(s.sample_rate, `${where}.sample_rate`, false, bad);
    const numChannels = positiveNumber(s.num_channels, `${where}.num_channels`, true, bad);
    let bitVolts: number | undefined;
    if (!Array.isArray(s.channels) || s.channels.length === 0) bad(`key '${where}.channels' is ${s.channels === undefined ? 'missing' : 'not a non-empty list'}`);
    else bitVolts = positiveNumber(s.channels[0]?.bit_volts, `${where}.channels[0].bit_volts`, false, bad);
    if (numChannels !== undefined && Array.isArray(s.channels) && s.channels.length && s.channels.length !== numChannels) {
      bad(`key '${where}.num_channels' is ${numChannels} but ${s.channels.length} channels are listed`);
    }
    if (sampleRateHz === undefined || numChannels === undefined || bitVolts === undefined) return;
    const info = describeFolder(folder);
    // A Neuropixels stream with no band in its name is wide-band NP2.0 data: the AP band's role.
    const kind = info.kind === 'other' && /^Neuropix/i.test(folder) ? (sampleRateHz >= 10000 ? 'ap' : 'lfp') : info.kind;
    streams.push({
      ...info, kind, folder, sampleRateHz, numChannels, bitVolts: float32Decimal(bitVolts),
      continuousFile: path.join(dir, 'continuous', folder, 'continuous.dat'),
    });
  });
  if (problems.length) return fail(...problems);
  const byProbe = new Map<string, OeProbe>();
  for (const s of streams) {
    if (s.kind === 'other') continue;
    const p = byProbe.get(s.probe) ?? { probe: s.probe };
    if (p[s.kind]) return fail({ file, message: `two ${s.kind.toUpperCase()} streams for probe ${s.probe}: ${p[s.kind]!.folder} and ${s.folder}` });
    p[s.kind] = s;
    byProbe.set(s.probe, p);
  }
  const guiVersion = typeof doc['GUI version'] === 'string' ? doc['GUI version'] : undefined;
  return ok({ file, ...(guiVersion ? { guiVersion } : {}), streams, probes: [...byProbe.values()] });
}

/** ephys_params values for one probe of a recording; its AP stream is required. */
export function ephysParamsFromOpenEphys(probe: OeProbe): Result<OpenEphysEphysParams> {
  const ap = probe.ap;
  if (!ap) return fail({ message: `probe ${probe.probe} has no AP stream` });
  const params: OpenEphysEphysParams = {
    sample_rate: ap.sampleRateHz,
    num_channels: ap.numChannels,
    bit_volts: ap.bitVolts,
    reference_channels: ap.referenceChannels,
    // Only 3A NPX extraction scrambles the LFP channel order (create_input_json.py's rule).
    reorder_lfp_channels: ap.acq === '3a',
  };
  if (probe.lfp) {
    params.lfp_sample_rate = probe.lfp.sampleRateHz;
    params.lfp_band_file = probe.lfp.continuousFile;
  }
  return ok(params);
}

/** The probe whose AP stream is in `folder`, or the only probe; an error names the choices. */
export function probeForFolder(oebin: Oebin, folder?: string): Result<OeProbe> {
  if (folder !== undefined) {
    const p = oebin.probes.find((x) => x.ap?.folder === folder || x.lfp?.folder === folder);
    return p ? ok(p) : fail({ file: oebin.file, message: `no continuous stream '${folder}'; streams: ${oebin.streams.map((s) => s.folder).join(', ') || 'none'}` });
  }
  if (oebin.probes.length === 1) return ok(oebin.probes[0]);
  return fail({ file: oebin.file, message: oebin.probes.length ? `${oebin.probes.length} probes (${oebin.probes.map((p) => p.probe).join(', ')}): say which AP folder to use` : 'no Neuropixels stream' });
}

export interface SettingsStream { name: string; sampleRateHz: number; channelCount: number }

/**
 * The `<STREAM name= sample_rate= channel_count=>` entries of an Open Ephys (GUI 0.6+) settings.xml:
 * enough to check a recording without a structure.oebin. Older settings files have none.
 */
export function readSettingsXmlStreams(xmlPath: string): Result<SettingsStream[]> {
  let text: string;
  try { text = fs.readFileSync(xmlPath, 'utf8'); } catch (e) {
    return fail({ file: xmlPath, message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
  }
  const seen = new Map<string, SettingsStream>();
  for (const m of text.matchAll(/<STREAM\b([^>]*)>/g)) {
    const attr = (n: string) => new RegExp(`\\b${n}="([^"]*)"`).exec(m[1])?.[1];
    const name = attr('name'), rate = Number(attr('sample_rate')), count = Number(attr('channel_count'));
    if (name && rate > 0 && Number.isInteger(count) && count > 0 && !seen.has(name)) seen.set(name, { name, sampleRateHz: rate, channelCount: count });
  }
  return ok([...seen.values()]);
}

function positiveNumber(v: unknown, key: string, integer: boolean, bad: (m: string) => void): number | undefined {
  if (v === undefined) { bad(`key '${key}' is missing`); return undefined; }
  if (typeof v !== 'number' || !(v > 0) || (integer && !Number.isInteger(v))) {
    bad(`key '${key}' is ${JSON.stringify(v)}, expected a positive ${integer ? 'integer' : 'number'}`);
    return undefined;
  }
  return v;
}

/** Line and column of a JSON.parse error, when V8 reports a position. */
function jsonErrorPlace(text: string, e: Error): { line?: number; column?: number } {
  const m = /position (\d+)/.exec(e.message);
  if (!m) return {};
  const before = text.slice(0, Number(m[1])).split('\n');
  return { line: before.length, column: before[before.length - 1].length + 1 };
}
