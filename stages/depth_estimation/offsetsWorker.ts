/** Worker thread of offsets.ts: one share of the channels' per-pass offsets and RMS. */
import { parentPort, workerData } from 'node:worker_threads';
import { StageError } from '../../lib/builtin/stage.js';
import { Int16File } from '../../lib/formats/int16File.js';
import { channelPassStats, type OffsetParams } from './offsets.js';

const { path, p, g0, g1 } = workerData as { path: string; p: OffsetParams; g0: number; g1: number };
let file: Int16File | undefined;
try {
  file = new Int16File(path, p.numChannels, 'AP band file');
  const result = channelPassStats(file, p, g0, g1, (bytes) => parentPort!.postMessage({ bytes }));
  parentPort!.postMessage({ result });
} catch (err) {
  parentPort!.postMessage({ error: (err as Error).message, stage: err instanceof StageError });
} finally {
  file?.close();
}
