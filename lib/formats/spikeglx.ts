/**
 * SpikeGLX `.meta` files: the recording's own ephys_params (channel count, sample rate, µV per
 * bit, probe type, reference channels) and its site geometry, so a lab does not copy them into
 * pipeline.yaml by hand. Problems are diagnostics that point at the file, line and key.
 */
import fs from 'node:fs';
import { fail, ok, type Diagnostic, type Result } from '../base/diagnostic.js';
import {
  apGainSource, defaultMaxInt, fixedReferenceChannels, geometryFor, probeTypeName, staggeredPitch,
} from './probeTypes.js';

/** One `key=value` line; `~` keys (`~imroTbl`, `~snsShankMap`, ...) are looked up without the tilde. */
export interface MetaEntry { key: string; value: string; line: number; column: number }
export interface MetaFile { file: string; entries: Map<string, MetaEntry> }

/** A recording site in file order, µm; x is measured within its shank. */
export interface Site { shank: number; xUm: number; yUm: number; used: boolean }

/** The ephys_params section values a SpikeGLX recording determines. */
export interface SpikeGlxEphysParams {
  num_channels: number;
  sample_rate: number;
  probe_type: string;
  bit_volts: number;
  reference_channels: number[];
  /**
   * Metres per channel step along the probe: vertical pitch / columns (NP1.0: 10e-6, the value
   * create_input_json.py writes). Absent when the sites give no pitch (a single row).
   */
  vertical_site_spacing?: number;
  lfp_sample_rate?: number;
  /** The `.lf.bin` beside the `.ap.bin`, when it exists (NP1.0-style probes). */
  lfp_band_file?: string;
  /** SpikeGLX never scrambles LFP channels (only 3A NPX extraction did). */
  reorder_lfp_channels: false;
}

export interface SpikeGlxMeta {
  metaFile: string;
  /** The binary's size SpikeGLX wrote when it closed the file, and where the key is. */
  fileSize?: { bytes: number; line: number; column: number; length: number };
  /** The `.lf.meta` beside an `.ap.meta`, when there is one (NP1.0-style probes). */
  lfMetaFile?: string;
  ephysParams: SpikeGlxEphysParams;
  /** imDatPrb_type as written; undefined for 3A probes, which do not record it. */
  probeTypeCode?: number;
  partNumber?: string;
  apGain: number;
  channelCounts: { ap: number; lfp: number; sync: number };
  sites: Site[];
  siteSource: 'snsGeomMap' | 'snsShankMap';
  verticalPitchUm: number;
  horizontalPitchUm: number;
  columnCount: number;
  shankCount: number;
}

export type MetaResult = Result<SpikeGlxMeta>;

export function parseMetaText(text: string, file: string): Result<MetaFile> {
  const entries = new Map<string, MetaEntry>();
  const problems: Diagnostic[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    if (!raw.trim()) return;
    const eq = raw.indexOf('=');
    if (eq <= 0) {
      problems.push({ file, line: i + 1, column: 1, length: raw.length, message: `line ${i + 1} is not key=value: '${clip(raw)}'` });
      return;
    }
    const key = raw.slice(0, eq).trim();
    entries.set(key.replace(/^~/, ''), { key, value: raw.slice(eq + 1).trim(), line: i + 1, column: eq + 2 });
  });
  if (!problems.length && entries.size === 0) problems.push({ file, message: 'empty file: no key=value lines' });
  return problems.length ? fail(...problems) : ok({ file, entries });
}

export function readMetaFile(file: string): Result<MetaFile> {
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch (e) {
    return fail({ file, message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
  }
  return parseMetaText(text, file);
}

/** `x.ap.meta` -> `x.lf.meta`; undefined for other names. */
export function lfMetaPathFor(apMetaPath: string): string | undefined {
  return /\.ap\.meta$/.test(apMetaPath) ? apMetaPath.replace(/\.ap\.meta$/, '.lf.meta') : undefined;
}

/** The `.meta` beside a `.bin`: SpikeGLX names them alike. */
export function metaPathForBin(binPath: string): string {
  return binPath.replace(/\.bin$/, '') + '.meta';
}

export function metaPathToBin(metaPath: string): string {
  return metaPath.replace(/\.meta$/, '') + '.bin';
}

/** Reads an AP-band `.meta` (and the `.lf.meta` beside it, when present). */
export function readSpikeGlxMeta(metaPath: string): MetaResult {
  const ap = readMetaFile(metaPath);
  if (!ap.ok) return ap;
  const lfPath = lfMetaPathFor(metaPath);
  let lf: MetaFile | undefined;
  if (lfPath && fs.existsSync(lfPath)) {
    const r = readMetaFile(lfPath);
    if (!r.ok) return r;
    lf = r.value;
  }
  return interpretSpikeGlxMeta(ap.value, lf);
}

const numberPattern = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** Typed access to a meta file's keys that collects every problem instead of stopping at the first. */
class MetaReader {
  readonly problems: Diagnostic[] = [];
  constructor(readonly meta: MetaFile) {}

  has(key: string): boolean { return this.meta.entries.has(key); }
  entry(key: string): MetaEntry | undefined { return this.meta.entries.get(key); }

  problem(key: string, message: string, entry = this.entry(key)): undefined {
    this.problems.push(entry
      ? { file: this.meta.file, line: entry.line, column: entry.column, length: Math.max(1, entry.value.length), message }
      : { file: this.meta.file, message });
    return undefined;
  }

  text(key: string): string | undefined {
    const e = this.entry(key);
    return e ? e.value : this.problem(key, `key '${key}' is missing`);
  }

  number(key: string, opts: { integer?: boolean; optional?: boolean } = {}): number | undefined {
    const e = this.entry(key);
    if (!e) return opts.optional ? undefined : this.problem(key, `key '${key}' is missing`);
    const expected = opts.integer ? 'an integer' : 'a number';
    if (!numberPattern.test(e.value) || (opts.integer && !Number.isInteger(Number(e.value)))) {
      return this.problem(key, `key '${e.key}' is '${clip(e.value)}', expected ${expected}`, e);
    }
    return Number(e.value);
  }

  /** A comma-separated list of integers, such as snsApLfSy=384,0,1. */
  integers(key: string, count: number): number[] | undefined {
    const e = this.entry(key);
    if (!e) return this.problem(key, `key '${key}' is missing`);
    const parts = e.value.split(',').map((s) => s.trim());
    if (parts.length !== count || !parts.every((p) => /^\d+$/.test(p))) {
      return this.problem(key, `key '${e.key}' is '${clip(e.value)}', expected ${count} comma-separated integers`, e);
    }
    return parts.map(Number);
  }

  /** `(header)(entry)(entry)...` tables such as ~imroTbl and ~snsShankMap. */
  table(key: string): { header: string; rows: string[] } | undefined {
    const e = this.entry(key);
    if (!e) return undefined;
    const groups = [...e.value.matchAll(/\(([^()]*)\)/g)].map((m) => m[1].trim());
    if (!groups.length || e.value.replace(/\([^()]*\)/g, '').trim()) {
      return this.problem(key, `key '${e.key}' is not a list of '(...)' groups`, e);
    }
    return { header: groups[0], rows: groups.slice(1) };
  }
}

export function interpretSpikeGlxMeta(meta: MetaFile, lfMeta?: MetaFile): MetaResult {
  const r = new MetaReader(meta);
  const sampleRateHz = r.number('imSampRate');
  const numChannels = r.number('nSavedChans', { integer: true });
  const counts = r.integers('snsApLfSy', 3);
  const typeCode = r.number('imDatPrb_type', { integer: true, optional: true });
  const probeType = probeTypeName(typeCode);
  const partNumber = r.entry('imDatPrb_pn')?.value;
  const rangeMax = r.number('imAiRangeMax');
  const rangeMin = r.number('imAiRangeMin');
  const maxInt = r.has('imMaxInt') ? positive(r, 'imMaxInt', r.number('imMaxInt', { integer: true })) : defaultMaxInt(typeCode);
  const apGain = readApGain(r, typeCode, probeType);

  if (numChannels !== undefined && counts && counts[0] + counts[1] + counts[2] !== numChannels) {
    r.problem('snsApLfSy', `key 'snsApLfSy' counts ${counts.join('+')} channels but nSavedChans is ${numChannels}`);
  }
  if (rangeMax !== undefined && rangeMin !== undefined && rangeMax <= rangeMin) {
    r.problem('imAiRangeMax', `key 'imAiRangeMax' (${rangeMax}) is not above imAiRangeMin (${rangeMin})`);
  }
  const apCount = counts?.[0];
  const layout = apCount !== undefined ? readSites(r, apCount, probeType, partNumber, typeCode) : undefined;
  const fileChannelOf = apCount !== undefined ? readSavedChannels(r, apCount) : undefined;

  let lfpSampleRateHz: number | undefined;
  if (lfMeta) {
    const lr = new MetaReader(lfMeta);
    lfpSampleRateHz = lr.number('imSampRate');
    r.problems.push(...lr.problems);
  }
  if (r.problems.length) return fail(...r.problems);
  if (sampleRateHz === undefined || numChannels === undefined || !counts || rangeMax === undefined
    || rangeMin === undefined || maxInt === undefined || apGain === undefined || !layout || !fileChannelOf) {
    throw new Error('internal error: a missing SpikeGLX key was not reported');
  }

  // µV per count: the ADC's input range over its count range, divided by the amplifier gain.
  const bitVolts = ((rangeMax - rangeMin) * 1e6) / (2 * maxInt * apGain);
  const references = new Set<number>();
  layout.sites.forEach((s, i) => { if (!s.used) references.add(i); });
  for (const ch of fixedReferenceChannels(probeType)) {
    const i = fileChannelOf(ch);
    if (i !== undefined) references.add(i);
  }
  const ephysParams: SpikeGlxEphysParams = {
    num_channels: numChannels,
    sample_rate: sampleRateHz,
    probe_type: probeType,
    bit_volts: bitVolts,
    reference_channels: [...references].sort((a, b) => a - b),
    reorder_lfp_channels: false,
  };
  if (layout.verticalPitchUm > 0) ephysParams.vertical_site_spacing = layout.verticalPitchUm / layout.columnCount / 1e6;
  if (lfpSampleRateHz !== undefined) ephysParams.lfp_sample_rate = lfpSampleRateHz;
  const lfBin = lfMeta ? metaPathToBin(lfMeta.file) : undefined;
  if (lfBin && fs.existsSync(lfBin)) ephysParams.lfp_band_file = lfBin;
  const size = meta.entries.get('fileSizeBytes');
  const fileSize = size && /^\d+$/.test(size.value) ? { bytes: Number(size.value), line: size.line, column: size.column, length: size.value.length } : undefined;
  return ok({
    metaFile: meta.file,
    ...(fileSize ? { fileSize } : {}),
    ...(lfMeta ? { lfMetaFile: lfMeta.file } : {}),
    ephysParams,
    ...(typeCode !== undefined ? { probeTypeCode: typeCode } : {}),
    ...(partNumber !== undefined ? { partNumber } : {}),
    apGain,
    channelCounts: { ap: counts[0], lfp: counts[1], sync: counts[2] },
    ...layout,
  });
}

function readApGain(r: MetaReader, typeCode: number | undefined, probeType: string): number | undefined {
  // Newer SpikeGLX writes the gain outright; older files keep it in the imro table.
  if (r.has('imChan0apGain')) return positive(r, 'imChan0apGain', r.number('imChan0apGain'));
  const source = apGainSource(typeCode);
  switch (source.kind) {
    case 'fixed': return source.gain;
    case 'imro-entry':
    case 'imro-header': {
      if (!r.has('imroTbl')) return r.problem('imroTbl', `key '~imroTbl' is missing (needed for the AP gain: no imChan0apGain)`);
      const t = r.table('imroTbl');
      if (!t) return undefined;
      // The gain of channel 0 stands for all: the modules take one bit_volts per recording.
      const fields = source.kind === 'imro-entry' ? (t.rows[0] ?? '').split(/\s+/) : t.header.split(',');
      const gain = Number(fields[3]);
      if (fields.length < 4 || !numberPattern.test(fields[3]) || !(gain > 0)) {
        return r.problem('imroTbl', `key '~imroTbl' has no AP gain in its ${source.kind === 'imro-entry' ? 'first entry' : 'header'}`);
      }
      return gain;
    }
    case 'unknown':
      return r.problem('imChan0apGain', `key 'imChan0apGain' is missing and the AP gain of probe type ${probeType} cannot be read from '~imroTbl'`);
    default: {
      const never: never = source;
      throw new Error(`internal error: gain source ${JSON.stringify(never)}`);
    }
  }
}

function positive(r: MetaReader, key: string, v: number | undefined): number | undefined {
  if (v !== undefined && !(v > 0)) return r.problem(key, `key '${key}' is ${v}, expected a positive number`);
  return v;
}

/**
 * File index of an original channel number: `snsSaveChanSubset` may save only some channels, and
 * the fixed reference sites are original numbers. Undefined when that channel was not saved.
 */
function readSavedChannels(r: MetaReader, apCount: number): ((ch: number) => number | undefined) | undefined {
  const e = r.entry('snsSaveChanSubset');
  if (!e || e.value === 'all') return (ch) => (ch < apCount ? ch : undefined);
  const saved: number[] = [];
  for (const part of e.value.split(',')) {
    const m = /^\s*(\d+)\s*(?::\s*(\d+)\s*)?$/.exec(part);
    if (!m) return r.problem('snsSaveChanSubset', `key 'snsSaveChanSubset' is '${clip(e.value)}', expected 'all' or ranges like 0:383,768`, e);
    const from = Number(m[1]);
    const to = m[2] !== undefined ? Number(m[2]) : from;
    for (let c = from; c <= to; c++) saved.push(c);
  }
  const index = new Map(saved.slice(0, apCount).map((c, i) => [c, i]));
  return (ch) => index.get(ch);
}

type SiteLayout = Pick<SpikeGlxMeta, 'sites' | 'siteSource' | 'verticalPitchUm' | 'horizontalPitchUm' | 'columnCount' | 'shankCount'>;

/** Sites from ~snsGeomMap (µm, newer SpikeGLX) or else ~snsShankMap (column/row indices). */
function readSites(r: MetaReader, apCount: number, probeType: string, partNumber: string | undefined, typeCode: number | undefined): SiteLayout | undefined {
  const source = r.has('snsGeomMap') ? 'snsGeomMap' : r.has('snsShankMap') ? 'snsShankMap' : undefined;
  if (!source) return r.problem('snsShankMap', `keys '~snsGeomMap' and '~snsShankMap' are both missing (needed for reference channels and site positions)`);
  const t = r.table(source);
  if (!t) return undefined;
  // Older files list the sync channel in the map too; only the AP channels have sites.
  if (t.rows.length < apCount) return r.problem(source, `key '~${source}' has ${t.rows.length} entries for ${apCount} AP channels`);
  const rows: number[][] = [];
  for (let i = 0; i < apCount; i++) {
    const parts = t.rows[i].split(':');
    if (parts.length < 4 || !parts.every((p) => numberPattern.test(p.trim()))) {
      return r.problem(source, `key '~${source}' entry ${i} is '(${clip(t.rows[i])})', expected 4 numbers separated by ':'`);
    }
    rows.push(parts.map(Number));
  }
  let sites: Site[];
  let shankCount: number;
  if (source === 'snsGeomMap') {
    // Header: part number, shank count, shank pitch, shank width. Entries: shank:x:y:use.
    shankCount = Number(t.header.split(',')[1]) || 1;
    sites = rows.map(([shank, x, y, use]) => ({ shank, xUm: x, yUm: y, used: use !== 0 }));
  } else {
    const g = geometryFor(partNumber, typeCode);
    if (!g) return r.problem(source, `key '~snsShankMap' gives no positions for probe ${partNumber ?? probeType}, and the file has no '~snsGeomMap'`);
    shankCount = g.shankCount;
    // Entries: shank:column:row:use; NP1.0 rows alternate between two x offsets (staggered sites).
    sites = rows.map(([shank, col, row, use]) => ({
      shank,
      xUm: col * g.horizontalPitchUm + (row % 2 === 0 ? g.evenRowXOffsetUm : g.oddRowXOffsetUm),
      yUm: row * g.verticalPitchUm,
      used: use !== 0,
    }));
  }
  return { sites, siteSource: source, shankCount, ...pitchesOf(sites, probeType) };
}

/**
 * Vertical and horizontal pitch and column count, from the shank with the most sites, the way
 * the SpikeGLX fork derives them (Kilosort's whitening range and radii in sites depend on them).
 */
export function pitchesOf(sites: Site[], probeType: string): { verticalPitchUm: number; horizontalPitchUm: number; columnCount: number } {
  const shank = mostCommon(sites.map((s) => s.shank));
  const onShank = sites.filter((s) => s.shank === shank);
  const xs = [...new Set(onShank.map((s) => s.xUm))].sort((a, b) => a - b);
  const stagger = staggeredPitch(probeType);
  if (stagger && xs.length === 4) return { ...stagger, columnCount: 2 };
  const column = mostCommon(onShank.map((s) => s.xUm));
  const ys = onShank.filter((s) => s.xUm === column).map((s) => s.yUm).sort((a, b) => a - b);
  const verticalPitchUm = mostCommon(diffs(ys));
  const horizontalPitchUm = mostCommon(diffs(xs));
  return { verticalPitchUm, horizontalPitchUm, columnCount: xs.length };
}

function diffs(sorted: number[]): number[] {
  return sorted.slice(1).map((v, i) => v - sorted[i]).filter((d) => d > 0);
}

/** The most frequent value (0 for none); ties go to the smallest, as numpy's unique + argmax does. */
function mostCommon(values: number[]): number {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best = 0;
  let bestCount = 0;
  for (const [v, c] of [...counts].sort((a, b) => a[0] - b[0])) if (c > bestCount) { best = v; bestCount = c; }
  return best;
}

function clip(s: string, max = 40): string {
  return s.length > max ? `${s.slice(0, max)}...` : s;
}
