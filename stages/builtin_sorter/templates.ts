/**
 * Templates: which channels each is kept on, the mean of its spikes there, and the arrays
 * Kilosort writes from them. Templates are in units of each channel's noise (that is the
 * "whitening": a diagonal one), and whitening_mat_inv turns them back into µV, which is what
 * load_kilosort_data and the modules after it expect.
 */
import { templateLength, templatePadding } from './phyFiles.js';
import { templateWindow, type TaskResult, type TemplateChannels } from './tasks.js';

/** The `perTemplate` sorted channels nearest each template's peak, nearest first (as pc_feature_ind). */
export function templateLayout(peaks: number[], sortedChannels: number[], perTemplate: number): TemplateChannels {
  const layout: TemplateChannels = { templateCount: peaks.length, perTemplate, channels: new Int32Array(peaks.length * perTemplate) };
  peaks.forEach((peak, k) => {
    const near = [...sortedChannels].sort((a, b) => Math.abs(a - peak) - Math.abs(b - peak) || a - b).slice(0, perTemplate);
    layout.channels.set(near, k * perTemplate);
  });
  return layout;
}

/** Mean snippet of each template from the per-chunk sums: [template][sample][channel of layout]. */
export function averageTemplates(parts: Array<Extract<TaskResult, { kind: 'template-sums' }>>, layout: TemplateChannels): Float32Array {
  const T = layout.templateCount, size = templateWindow.length * layout.perTemplate;
  const total = new Float64Array(T * size);
  const counts = new Int32Array(T);
  for (const r of parts) {
    for (let i = 0; i < total.length; i++) total[i] += r.sums[i];
    for (let t = 0; t < T; t++) counts[t] += r.counts[t];
  }
  return Float32Array.from(total, (v, i) => (counts[Math.floor(i / size)] ? v / counts[Math.floor(i / size)] : 0));
}

export interface KilosortTemplates {
  /** [template][82][channel map column]. */
  templates: Float32Array;
  pcFeatureInd: Uint32Array;
  whitening: Float64Array;
  whiteningInv: Float64Array;
  /** Largest peak-to-peak of each template over its channels, µV. */
  amplitudeUv: number[];
}

export function kilosortTemplates(means: Float32Array, layout: TemplateChannels, sortedChannels: number[], noiseRaw: Float32Array, bitVolts: number): KilosortTemplates {
  const T = layout.templateCount, P = layout.perTemplate, W = templateWindow.length, Cs = sortedChannels.length;
  const column = new Map(sortedChannels.map((c, i) => [c, i]));
  const templates = new Float32Array(T * templateLength * Cs);
  const amplitudeUv: number[] = [];
  for (let t = 0; t < T; t++) {
    let ptp = 0;
    for (let j = 0; j < P; j++) {
      const c = layout.channels[t * P + j];
      let lo = Infinity, hi = -Infinity;
      for (let k = 0; k < W; k++) {
        const v = means[(t * W + k) * P + j];
        templates[(t * templateLength + templatePadding + k) * Cs + column.get(c)!] = v;
        lo = Math.min(lo, v); hi = Math.max(hi, v);
      }
      ptp = Math.max(ptp, (hi - lo) * noiseRaw[c] * bitVolts);
    }
    amplitudeUv.push(ptp);
  }
  const whitening = new Float64Array(Cs * Cs), whiteningInv = new Float64Array(Cs * Cs);
  sortedChannels.forEach((c, i) => {
    whiteningInv[i * Cs + i] = noiseRaw[c] * bitVolts;
    whitening[i * Cs + i] = 1 / whiteningInv[i * Cs + i];
  });
  return { templates, pcFeatureInd: Uint32Array.from(layout.channels, (c) => column.get(c)!), whitening, whiteningInv, amplitudeUv };
}
