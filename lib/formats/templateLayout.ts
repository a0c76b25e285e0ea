/** Which sorter's template layout a templates.npy has, read from the file itself. */
import { StageError } from '../base/stageError.js';
import type { NpyData } from './npy.js';

/**
 * Templates as Kilosort writes them. Kilosort 2 (and the built-in sorter): 82 samples whose first
 * 21 are zeros, the trough at sample 41; the Allen code cuts 21, leaving 61 samples with the trough
 * at 20, the window its noise rules and waveform metrics are written for. Kilosort 4 (nt 61): 61
 * samples with the trough at 20 and no padding, the same window without cutting anything.
 */
export interface TemplateLayout { sorter: 'kilosort2' | 'kilosort4'; paddingSamples: number }

const allenPadding = 21;
const kilosort4Samples = 61;

/** Leading samples that are zero on every channel of every template. */
export function leadingZeroSamples(t: NpyData, shape: number[]): number {
  const [nT, nS, nC] = shape;
  let lead = nS;
  for (let ti = 0; ti < nT && lead > 0; ti++) {
    for (let s = 0; s < lead; s++) {
      const row = (ti * nS + s) * nC;
      let zero = true;
      for (let c = 0; c < nC; c++) if (Number(t[row + c]) !== 0) { zero = false; break; }
      if (!zero) { lead = s; break; }
    }
  }
  return nT === 0 ? 0 : lead;
}

/**
 * Recognise the layout from the file: its length and, when the data is at hand, its leading
 * zeros. Folders the Allen code reads (Kilosort 2's 82 samples, anything with the 21 zero samples)
 * keep its 21-sample cut exactly; unpadded 61-sample templates are Kilosort 4's. Anything else
 * would put the trough where no rule looks, and is refused.
 */
export function templateLayoutOf(file: string, shape: number[], leadingZeros: number | undefined): TemplateLayout {
  const samples = shape[1];
  if (samples === 82 || (leadingZeros ?? 0) >= allenPadding) return { sorter: 'kilosort2', paddingSamples: allenPadding };
  if (samples === kilosort4Samples && (leadingZeros ?? 0) === 0) return { sorter: 'kilosort4', paddingSamples: 0 };
  if (leadingZeros === undefined) return { sorter: 'kilosort2', paddingSamples: allenPadding };
  throw new StageError(`${file}: ${samples} samples per template, ${leadingZeros} leading zero samples: neither Kilosort 2's layout (82 samples, the first 21 zero) nor Kilosort 4's (61 samples, no padding; Kilosort 4 run with nt 61). The noise rules and waveform metrics need 61-sample templates with the trough at sample 20; for Kilosort 4, sort with the default nt (61)`);
}
