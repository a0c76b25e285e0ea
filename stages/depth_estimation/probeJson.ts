/**
 * probe_info.json (reference §0.3) laid out as the module's json.dump(..., indent=4) writes it:
 * one list element per line, floats with Python's repr ('312.0', '1.0'), keys in its order.
 * median_subtraction and kilosort_helper read this file.
 */
import { writeFileAtomic } from '../../lib/base/atomicFile.js';
import { pyFloatRepr } from '../../lib/numeric/pyFloatRepr.js';

export interface ProbeInfo {
  offsets: ArrayLike<number>;
  mask: boolean[];
  surfaceChannel: number;
  airChannel: number;
  numChannels: number;
}

type Json = { int: number } | { float: number } | boolean | Json[];

function render(v: Json, indent: string): string {
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    const inner = indent + '    ';
    return '[\n' + v.map((x) => inner + render(x, inner)).join(',\n') + '\n' + indent + ']';
  }
  return 'int' in v ? String(v.int) : pyFloatRepr(v.float);
}

export function probeInfoText(p: ProbeInfo): string {
  const C = p.numChannels;
  const ints = (f: (i: number) => number, n = C): Json[] => Array.from({ length: n }, (_, i) => ({ int: f(i) }));
  // The module builds horizontal_pos as [43, 11, 59, 27] * int(C / 4), so a channel count that
  // is not a multiple of four gives a shorter list; kept, since readers may compare lengths.
  const entries: Array<[string, Json]> = [
    ['channel', ints((i) => i)],
    ['offset', ints((i) => p.offsets[i])],
    ['scaling', Array.from({ length: C }, () => ({ float: 1.0 }))],
    ['mask', p.mask.slice(0, C)],
    ['surface_channel', { float: p.surfaceChannel }],
    ['air_channel', { float: p.airChannel }],
    ['vertical_pos', ints((i) => 20 * (Math.floor(i / 2) + 1))],
    ['horizontal_pos', ints((i) => [43, 11, 59, 27][i % 4], 4 * Math.trunc(C / 4))],
  ];
  return '{\n' + entries.map(([k, v]) => `    ${JSON.stringify(k)}: ${render(v, '    ')}`).join(',\n') + '\n}';
}

export function writeProbeInfo(file: string, p: ProbeInfo): void {
  writeFileAtomic(file, probeInfoText(p));
}
