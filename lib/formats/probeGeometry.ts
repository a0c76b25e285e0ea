/**
 * The `probe_geometry` section of an input JSON: the recording's AP sites that hold signal, as
 * rows of the binary file and positions in µm, for stages that need the layout (Kilosort 4's probe:
 * chanMap, xc, yc, kcoords). Read from a SpikeGLX `.meta`; Open Ephys `structure.oebin` has no
 * positions, so a 384-channel Neuropixels 1.0 recording gets the standard NP1.0 layout.
 */
import { geometryFor } from './probeTypes.js';
import type { Site } from './spikeglx.js';

export interface ProbeGeometrySection extends Record<string, unknown> {
  /** 0-based rows of the binary file (the sync channel and reference sites are not listed). */
  channels: number[];
  x_um: number[];
  y_um: number[];
  shank: number[];
  source: string;
}

export function geometryFromSites(sites: Site[], source: string): ProbeGeometrySection {
  const g: ProbeGeometrySection = { channels: [], x_um: [], y_um: [], shank: [], source };
  sites.forEach((s, i) => {
    if (!s.used) return;
    g.channels.push(i); g.x_um.push(s.xUm); g.y_um.push(s.yUm); g.shank.push(s.shank);
  });
  return g;
}

/** NP1.0 staggered sites for channel i: row i/2, column i%2; reference channels left out. */
export function np1Geometry(apChannels: number, referenceChannels: readonly number[], source: string): ProbeGeometrySection {
  const np1 = geometryFor(undefined, 0)!;
  const sites: Site[] = [];
  for (let i = 0; i < apChannels; i++) {
    const row = Math.floor(i / 2), col = i % 2;
    sites.push({ shank: 0, xUm: col * np1.horizontalPitchUm + (row % 2 === 0 ? np1.evenRowXOffsetUm : np1.oddRowXOffsetUm), yUm: row * np1.verticalPitchUm, used: !referenceChannels.includes(i) });
  }
  return geometryFromSites(sites, source);
}
