/**
 * What ephys-make knows about Neuropixels probe types: how SpikeGLX names them, where their
 * reference sites are, where their AP gain is recorded, their site geometry, and how the Open
 * Ephys folders of the Allen pipeline are named for them.
 */

/** 3A probes reference ten fixed sites (0-based channel numbers). */
export const referenceChannels3A: readonly number[] = [36, 75, 112, 151, 188, 227, 264, 303, 340, 379];
/** 3B1, 3B2 and NP1.0 have one hard-wired reference channel. */
export const referenceChannelsNP1: readonly number[] = [191];

/** NP2.0 types, one shank (21, 2000, 2003, 2004) and four shanks (24, 2010, 2013, 2014): 14-bit ADC, fixed gain. */
const np2TypeCodes = new Set([21, 24, 2000, 2003, 2004, 2010, 2013, 2014]);
/**
 * Types whose imro table has one `(chan bank refid apgain lfgain [apfilt])` entry per channel,
 * as in SpikeGLX's own readers; 0 is 3B/NP1.0, the others are NP1.0 variants (NHP, UHD, ...).
 */
const np1ImroTypeCodes = new Set([0, 1020, 1030, 1100, 1120, 1121, 1122, 1123, 1200, 1300]);

export const np2ApGain = 80;

/**
 * SpikeGLX's probe type name, as the SpikeGLX fork of ecephys_spike_sorting spells it: no
 * imDatPrb_type means a 3A probe, type 0 is 'NP1', any other type is 'NP<type>'.
 */
export function probeTypeName(typeCode: number | undefined): string {
  if (typeCode === undefined) return '3A';
  return typeCode === 0 ? 'NP1' : `NP${typeCode}`;
}

export function isNp2Type(typeCode: number | undefined): boolean {
  return typeCode !== undefined && np2TypeCodes.has(typeCode);
}

/** Where a probe type's AP gain is found when the metadata has no imChan0apGain key. */
export type ApGainSource =
  | { kind: 'imro-entry' }        // field 3 of the first channel's entry (3A and NP1.0-style tables)
  | { kind: 'imro-header' }       // field 3 of the header (NP1110, whose gain is global)
  | { kind: 'fixed'; gain: number }
  | { kind: 'unknown' };

export function apGainSource(typeCode: number | undefined): ApGainSource {
  if (typeCode === undefined || np1ImroTypeCodes.has(typeCode)) return { kind: 'imro-entry' };
  if (typeCode === 1110) return { kind: 'imro-header' };
  if (np2TypeCodes.has(typeCode)) return { kind: 'fixed', gain: np2ApGain };
  return { kind: 'unknown' };
}

/** ADC full-scale count when an old metadata file has no imMaxInt: 10-bit NP1.0, 14-bit NP2.0. */
export function defaultMaxInt(typeCode: number | undefined): number {
  return isNp2Type(typeCode) ? 8192 : 512;
}

/**
 * Reference sites fixed by the probe's design, beyond those SpikeGLX flags as unused in its
 * shank map. NP2.0 probes have none: their reference is external, the tip, or an on-shank
 * electrode the user selects, and SpikeGLX flags a selected on-shank reference as unused itself.
 * Unknown types also get none, leaving the shank map's flags as the only source.
 */
export function fixedReferenceChannels(probeType: string): readonly number[] {
  if (probeType === '3A') return referenceChannels3A;
  if (probeType === 'NP1' || probeType === '3B1' || probeType === '3B2') return referenceChannelsNP1;
  return [];
}

/**
 * Site layout used to place channels when the metadata has only `~snsShankMap` (column and row
 * indices), not `~snsGeomMap` (micrometres). Values from SpikeGLX's geometry tables.
 */
export interface ProbeGeometry {
  shankCount: number;
  shankWidthUm: number;
  shankPitchUm: number;
  /** x of column 0 on even and odd rows: NP1.0 sites are staggered. */
  evenRowXOffsetUm: number;
  oddRowXOffsetUm: number;
  horizontalPitchUm: number;
  verticalPitchUm: number;
}

const np1Staggered: ProbeGeometry = { shankCount: 1, shankWidthUm: 70, shankPitchUm: 0, evenRowXOffsetUm: 27, oddRowXOffsetUm: 11, horizontalPitchUm: 32, verticalPitchUm: 20 };
const np2SingleShank: ProbeGeometry = { shankCount: 1, shankWidthUm: 70, shankPitchUm: 0, evenRowXOffsetUm: 27, oddRowXOffsetUm: 27, horizontalPitchUm: 32, verticalPitchUm: 15 };
const np2FourShank: ProbeGeometry = { ...np2SingleShank, shankCount: 4, shankPitchUm: 250 };
const nhpStaggered125: ProbeGeometry = { shankCount: 1, shankWidthUm: 125, shankPitchUm: 0, evenRowXOffsetUm: 27, oddRowXOffsetUm: 11, horizontalPitchUm: 87, verticalPitchUm: 20 };

const geometryByPartNumber: Record<string, ProbeGeometry> = {
  PRB_1_4_0480_1: np1Staggered, PRB_1_4_0480_1_C: np1Staggered,
  NP1010: np1Staggered, NP1011: np1Staggered, NP1012: np1Staggered, NP1013: np1Staggered,
  NP1020: nhpStaggered125, NP1021: nhpStaggered125, NP1030: nhpStaggered125, NP1031: nhpStaggered125,
  PRB2_1_2_0640_0: np2SingleShank, PRB2_1_4_0480_1: np2SingleShank, NP2000: np2SingleShank, NP2003: np2SingleShank, NP2004: np2SingleShank,
  PRB2_4_2_0640_0: np2FourShank, PRB2_4_4_0480_1: np2FourShank, NP2010: np2FourShank, NP2013: np2FourShank, NP2014: np2FourShank,
};

/** Geometry by part number (imDatPrb_pn), else by type code; undefined when unknown. */
export function geometryFor(partNumber: string | undefined, typeCode: number | undefined): ProbeGeometry | undefined {
  if (partNumber && geometryByPartNumber[partNumber]) return geometryByPartNumber[partNumber];
  if (typeCode === undefined || typeCode === 0) return np1Staggered;
  if (typeCode === 21) return np2SingleShank;
  if (typeCode === 24) return np2FourShank;
  return undefined;
}

/**
 * Staggered NP1.0-style layouts have four distinct x positions but are two columns to every
 * downstream tool (Kilosort's whitening range, C_Waves radii): 20 µm rows, 32 µm (NHP: 87 µm)
 * apart horizontally. The SpikeGLX fork special-cases the same names.
 */
export function staggeredPitch(probeType: string): { verticalPitchUm: number; horizontalPitchUm: number } | undefined {
  if (['3A', 'NP1', 'NP1200', 'NP1210'].includes(probeType)) return { verticalPitchUm: 20, horizontalPitchUm: 32 };
  if (['NP1020', 'NP1021', 'NP1030', 'NP1031'].includes(probeType)) return { verticalPitchUm: 20, horizontalPitchUm: 87 };
  return undefined;
}

/** The Open Ephys acquisition system name in Allen folder names: `Neuropix-3a-100.0` or `Neuropix-PXI-100.0`. */
export type OpenEphysAcq = '3a' | 'PXI';

/** create_input_json.py's rule: probe type '3A' records with the 3a system, everything else with PXI. */
export function openEphysAcqFor(probeType: string): OpenEphysAcq {
  return probeType === '3A' ? '3a' : 'PXI';
}

export function referenceChannelsForAcq(acq: OpenEphysAcq): readonly number[] {
  return acq === '3a' ? referenceChannels3A : referenceChannelsNP1;
}

/** AP and LFP folder names (under `continuous/`) the Allen pipeline uses for an acquisition system. */
export function openEphysFolderNames(acq: OpenEphysAcq): { ap: string; lfp: string } {
  return { ap: `Neuropix-${acq}-100.0`, lfp: `Neuropix-${acq}-100.1` };
}

/**
 * The Allen kilosort_helper loads `neuropixPhase<probe_type>_kilosortChanMap.mat`, which exists
 * for 3A, 3B1 and 3B2 only; NP1.0 has the 3B2 layout. Other probes need the SpikeGLX fork.
 */
export function allenProbeType(probeType: string): '3A' | '3B1' | '3B2' | undefined {
  if (probeType === '3A' || probeType === '3B1' || probeType === '3B2') return probeType;
  return probeType === 'NP1' ? '3B2' : undefined;
}
