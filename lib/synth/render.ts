/**
 * The AP band (30 kHz) of one chunk: spikes of every unit near the probe, each channel's own
 * Gaussian noise, the noise common to all channels (broadband plus 60 Hz hum) and a DC offset per
 * channel, rounded to the stored integer scale and clipped to the ADC's range.
 */
import { Rng, gaussianTable } from './random.js';
import { commonNoiseUv, humAmplitudeUv, humHz } from './channels.js';
import { footprint, templateSamples, troughSample, type Footprint } from './units.js';
import { type RecordingModel, driftAt, syncValue } from './model.js';

/** Spikes whose window overlaps a chunk (times are trough samples). */
export interface ChunkSpikes {
  times: Float64Array;
  units: Uint32Array;
}

/** Indices [from, to) of the spikes whose window touches AP samples [t0, t0+n). */
export function spikesTouching(times: Float64Array, t0: number, n: number): [number, number] {
  const lo = t0 - (templateSamples - troughSample) + 1;
  const hi = t0 + n + troughSample;
  return [lowerBound(times, lo), lowerBound(times, hi)];
}

function lowerBound(a: Float64Array, v: number): number {
  let lo = 0, hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < v) lo = mid + 1; else hi = mid;
  }
  return lo;
}

/** Add every spike's waveform, in counts, to `acc` (n x channels). */
function addSpikes(m: RecordingModel, silent: Set<number>, t0: number, n: number, spikes: ChunkSpikes, acc: Float32Array): void {
  const C = m.channels;
  const perCount = 1 / m.ap.uvPerCount;
  // Drift is slow, so one footprint per unit per chunk (at its middle) is enough.
  const shift = driftAt(m, t0 + n / 2);
  const prints = new Map<number, Footprint>();
  const w = m.units.waveforms;
  for (let i = 0; i < spikes.times.length; i++) {
    const u = spikes.units[i];
    let f = prints.get(u);
    if (!f) {
      f = footprint(m.units, u, m.sites, silent, shift);
      prints.set(u, f);
    }
    const start = spikes.times[i] - troughSample - t0;
    const k0 = Math.max(0, -start), k1 = Math.min(templateSamples, n - start);
    const chans = f.channels, gains = f.gainsUv;
    for (let k = k0; k < k1; k++) {
      const v = w[u * templateSamples + k] * perCount;
      const row = (start + k) * C;
      for (let j = 0; j < chans.length; j++) acc[row + chans[j]] += v * gains[j];
    }
  }
}

/** AP samples [t0, t0+n) of all saved channels, interleaved int16. */
export function renderApChunk(m: RecordingModel, noiseSeed: number, t0: number, n: number, spikes: ChunkSpikes): Int16Array {
  const C = m.channels, S = m.savedChannels;
  const { uvPerCount, minCount, maxCount } = m.ap;
  const perCount = 1 / uvPerCount;
  const acc = new Float32Array(n * C);
  addSpikes(m, new Set(m.silent), t0, n, spikes, acc);

  const table = gaussianTable();
  const rng = new Rng(noiseSeed);
  const words = new Uint32Array(Math.ceil((n * (C + 1)) / 2));
  rng.fillUint32(words);
  const idx = new Uint16Array(words.buffer, 0, n * (C + 1));

  const noise = Float32Array.from(m.channel.noiseUv, (v) => v * perCount);
  const dc = Float32Array.from(m.channel.dcUv, (v) => v * perCount);
  const gain = Float32Array.from(m.channel.commonGain);
  const out = new Int16Array(n * S);
  const cmScale = commonNoiseUv * perCount;
  const humScale = humAmplitudeUv * perCount;
  const humStep = (2 * Math.PI * humHz) / m.sampleRateHz;
  let r = 0;
  for (let s = 0; s < n; s++) {
    const common = cmScale * table[idx[r++]] + humScale * Math.sin(humStep * (t0 + s));
    const row = s * S, arow = s * C;
    for (let c = 0; c < C; c++) {
      let q = Math.round(acc[arow + c] + dc[c] + common * gain[c] + noise[c] * table[idx[r++]]);
      if (q > maxCount) q = maxCount; else if (q < minCount) q = minCount;
      out[row + c] = q;
    }
    if (S > C) out[row + C] = syncValue(t0 + s, m.sampleRateHz);
  }
  return out;
}
