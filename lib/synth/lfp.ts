/**
 * The LF band (2.5 kHz): brain rhythms shared across neighbouring sites with depth-dependent
 * strength and sign, channel noise, and the common-mode hum. Above the brain surface the rhythms
 * fade within a few channels, which is what depth_estimation's surface finder looks for
 * (log power below 0-10 Hz threshold, steep channel-to-channel drop).
 */
import { Rng, mixSeed, gaussianTable } from './random.js';
import type { ChannelModel } from './channels.js';
import type { Site } from './probe.js';
import { humAmplitudeUv, humHz } from './channels.js';
import { type LfpModel, type RecordingModel, syncValue } from './model.js';
import { Scratch } from './scratch.js';

const scratch = new Scratch();

/** Sinusoids per rhythm; a few incommensurate ones make it look irregular. */
const partials = 3;

/** [lowest Hz, highest Hz, amplitude µV rms] per rhythm: slow, delta, theta, beta, gamma. */
const rhythms: Array<[number, number, number]> = [
  [0.3, 1, 120], [1, 4, 150], [5, 9, 80], [13, 25, 25], [30, 60, 10],
];

/** Channels above the surface over which the rhythms fade by e. */
const surfaceFadeChannels = 1.5;
const commonLfNoiseUv = 10;

export function designLfp(seed: number, ch: ChannelModel, sites: Site[], silent: Set<number>): LfpModel {
  const rng = new Rng(mixSeed(seed, 0x6c6670));
  const K = rhythms.length;
  const m: LfpModel = {
    rhythms: K,
    freqsHz: new Float64Array(K * partials), phases: new Float64Array(K * partials),
    modHz: new Float64Array(K), modPhases: new Float64Array(K),
    weightsUv: new Float64Array(ch.count * K),
  };
  const lengthUm: number[] = [];
  const shift: number[] = [];
  for (let k = 0; k < K; k++) {
    const [lo, hi] = rhythms[k];
    for (let j = 0; j < partials; j++) {
      m.freqsHz[k * partials + j] = rng.uniform(lo, hi);
      m.phases[k * partials + j] = rng.uniform(0, 2 * Math.PI);
    }
    m.modHz[k] = rng.uniform(0.05, 0.3);
    m.modPhases[k] = rng.uniform(0, 2 * Math.PI);
    lengthUm.push(rng.uniform(800, 4000));
    shift.push(rng.uniform(0, 2 * Math.PI));
  }
  for (let c = 0; c < ch.count; c++) {
    if (silent.has(c)) continue;
    const fade = c < ch.surfaceChannel ? 1 : Math.exp(-(c - ch.surfaceChannel + 1) / surfaceFadeChannels);
    for (let k = 0; k < K; k++) {
      const profile = 0.4 + 0.6 * Math.cos((2 * Math.PI * sites[c].y) / lengthUm[k] + shift[k]);
      m.weightsUv[c * K + k] = rhythms[k][2] * profile * fade;
    }
  }
  return m;
}

/** LF samples [l0, l0+n) of all saved channels, interleaved int16 (into `into` if it fits). */
export function renderLfChunk(m: RecordingModel, noiseSeed: number, l0: number, n: number, into?: Int16Array): Int16Array {
  const C = m.channels, S = m.savedChannels, K = m.lfp.rhythms;
  const { uvPerCount, minCount, maxCount } = m.lf;
  const perCount = 1 / uvPerCount;
  const table = gaussianTable();
  const words = scratch.words(Math.ceil((n * (C + 1)) / 2));
  new Rng(noiseSeed).fillUint32(words);
  const idx = new Uint16Array(words.buffer, 0, n * (C + 1));
  const weights = Float64Array.from(m.lfp.weightsUv, (w) => w * perCount);
  const noise = Float64Array.from(m.channel.lfNoiseUv, (v) => v * perCount);
  // Truncating a positive number rounds faster than Math.round (see render.ts).
  const offset = -minCount;
  const dc = Float64Array.from(m.channel.lfDcUv, (v) => v * perCount + offset + 0.5);
  const hi = maxCount + offset;
  const gain = m.channel.commonGain;
  const comp = new Float64Array(K);
  const amp = Math.sqrt(2 / partials);
  const out = into && into.length === n * S ? into : new Int16Array(n * S);
  let r = 0;
  for (let s = 0; s < n; s++) {
    const t = (l0 + s) / m.lfSampleRateHz;
    for (let k = 0; k < K; k++) {
      let v = 0;
      for (let j = 0; j < partials; j++) v += Math.sin(2 * Math.PI * m.lfp.freqsHz[k * partials + j] * t + m.lfp.phases[k * partials + j]);
      comp[k] = amp * v * (1 + 0.5 * Math.sin(2 * Math.PI * m.lfp.modHz[k] * t + m.lfp.modPhases[k]));
    }
    const common = (commonLfNoiseUv * table[idx[r++]] + humAmplitudeUv * Math.sin(2 * Math.PI * humHz * t)) * perCount;
    const row = s * S;
    for (let c = 0; c < C; c++) {
      let v = dc[c] + common * gain[c] + noise[c] * table[idx[r++]];
      for (let k = 0; k < K; k++) v += weights[c * K + k] * comp[k];
      let q = v | 0;
      if (q > hi) q = hi; else if (q < 0) q = 0;
      out[row + c] = q - offset;
    }
    if (S > C) out[row + C] = syncValue(l0 + s, m.lfSampleRateHz);
  }
  return out;
}
