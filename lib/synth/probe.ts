/**
 * Neuropixels 1.0 site geometry in the frame the Allen modules and Kilosort's channel map use:
 * four staggered x positions, two sites per 20 µm row. SpikeGLX measures x from the other edge
 * of the 70 µm shank (x' = 70 - x); distances, and so everything the generator computes, are the
 * same in either frame.
 */

export const np1SiteXUm: readonly number[] = [43, 11, 59, 27];
export const np1RowPitchUm = 20;
export const np1ShankWidthUm = 70;
/** The hard-wired reference site of NP1.0 (and 3B) probes. */
export const np1ReferenceChannel = 191;

export interface Site { x: number; y: number }

export function siteX(channel: number): number {
  return np1SiteXUm[channel % 4];
}

export function siteY(channel: number): number {
  return np1RowPitchUm * Math.floor(channel / 2);
}

export function sitePositions(channels: number): Site[] {
  return Array.from({ length: channels }, (_, c) => ({ x: siteX(c), y: siteY(c) }));
}

/** The reference site, when the probe has that many channels. */
export function referenceChannels(channels: number): number[] {
  return channels > np1ReferenceChannel ? [np1ReferenceChannel] : [];
}
