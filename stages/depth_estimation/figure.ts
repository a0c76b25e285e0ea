/**
 * The module's probe_depth.png, drawn with lib/formats/plot.ts: four stacked panels of the last pass
 * (matplotlib figsize 5 x 10 at 100 dpi, so 500 x 1000 pixels):
 *   1. the re-referenced LFP chunk, channels up the y axis, colour limits -1000..1000;
 *   2. log10 power per channel up to max_freq, colour limits from the data;
 *   3. the smoothed log-power profile with power_thresh (dashed black) and the surface channel
 *      (dashed red, from -2 to 2 as the module draws it);
 *   4. its channel-to-channel difference with diff_thresh and the surface channel, titled with
 *      the surface channel.
 */
import { Axes, Raster, colors } from '../../lib/formats/plot.js';
import { pyFloatRepr } from '../../lib/numeric/pyFloatRepr.js';
import type { LastPass } from './surface.js';

export interface FigureValues {
  lastPass: LastPass;
  numChannels: number;
  surfaceChannel: number;
  powerThresh: number;
  diffThresh: number;
}

const width = 500;
const height = 1000;
const left = 62;
const right = 12;
const panelHeight = 190;
const panelTops = [30, 270, 510, 750];

function finiteRange(v: ArrayLike<number>): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (Number.isFinite(x)) { if (x < lo) lo = x; if (x > hi) hi = x; }
  }
  if (lo > hi) return [0, 1];
  if (lo === hi) return [lo - 0.5, hi + 0.5];
  return [lo, hi];
}

/** Pad a plotted range by 5% each side, as matplotlib's autoscale margins do. */
function padded(lo: number, hi: number): [number, number] {
  const m = (hi - lo) * 0.05;
  return [lo - m, hi + m];
}

export function drawDepthFigure(v: FigureValues): Buffer {
  const r = new Raster(width, height);
  const w = width - left - right;
  const C = v.numChannels;
  const { chunk, samples, logPower, powerBins, values } = v.lastPass;

  // Panels 1 and 2 are images of [channel][x]; flipud puts the last channel on top.
  const flip = (src: ArrayLike<number>, cols: number) => {
    const out = new Float64Array(C * cols);
    for (let ch = 0; ch < C; ch++) for (let k = 0; k < cols; k++) out[(C - 1 - ch) * cols + k] = src[ch * cols + k];
    return out;
  };
  const a1 = new Axes(r, left, panelTops[0], w, panelHeight, -0.5, samples - 0.5, -0.5, C - 0.5);
  a1.image(flip(chunk, samples), C, samples, -1000, 1000);
  a1.frame();

  const [pLo, pHi] = finiteRange(logPower);
  const a2 = new Axes(r, left, panelTops[1], w, panelHeight, -0.5, powerBins - 0.5, -0.5, C - 0.5);
  a2.image(flip(logPower, powerBins), C, powerBins, pLo, pHi);
  a2.frame();

  const [vLo0, vHi0] = finiteRange([...values, v.powerThresh, -2, 2]);
  const [vLo, vHi] = padded(vLo0, vHi0);
  const a3 = new Axes(r, left, panelTops[2], w, panelHeight, ...padded(0, C), vLo, vHi);
  a3.plot(values, colors.blue, 2);
  a3.segment(0, v.powerThresh, C, v.powerThresh, colors.black, 2, [8, 5]);
  a3.segment(v.surfaceChannel, -2, v.surfaceChannel, 2, colors.red, 2, [8, 5]);
  a3.frame();

  const diff = new Float64Array(Math.max(0, C - 1));
  for (let i = 0; i + 1 < C; i++) diff[i] = values[i + 1] - values[i];
  const [dLo0, dHi0] = finiteRange([...diff, v.diffThresh, -0.2]);
  const [dLo, dHi] = padded(dLo0, dHi0);
  const a4 = new Axes(r, left, panelTops[3], w, panelHeight, ...padded(0, C), dLo, dHi);
  a4.plot(diff, colors.blue, 2);
  a4.segment(0, v.diffThresh, C, v.diffThresh, colors.black, 2, [8, 5]);
  a4.segment(v.surfaceChannel, -0.2, v.surfaceChannel, v.diffThresh, colors.red, 2, [8, 5]);
  a4.frame();
  // matplotlib prints the numpy float, e.g. "312.0".
  const title = `surface channel ${pyFloatRepr(v.surfaceChannel)}`;
  r.text(left + (w - Raster.textWidth(title, 2)) / 2, panelTops[3] - 18, title, colors.black, 2);
  return r.toPng();
}
