/**
 * Writing the cleaned per-spike arrays as `.partial` files that are renamed into place only after
 * every one of them is complete, so the folder never shows spike_times of one run beside
 * amplitudes of another. pc_features.npy (N x 3 x 32 float32, gigabytes for long recordings) is
 * filtered in blocks of rows and never held whole.
 */
import { PartialFile } from '../../lib/base/atomicFile.js';
import { StageError } from '../../lib/builtin/stage.js';
import { npyHeaderBytes, readNpyHeader, readNpyRows, NpyError, type NpyArray, type NpyData, type NpyDtype } from '../../lib/formats/npy.js';

const blockBytes = 32 << 20;

const ctorOf = {
  int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, int32: Int32Array,
  uint32: Uint32Array, int64: BigInt64Array, uint64: BigUint64Array, float32: Float32Array, float64: Float64Array,
} as const;

/** The entries of `data` whose `keep` flag is set, in the same typed array kind. */
export function keptValues<T extends NpyData>(data: T, keep: Uint8Array, keptCount: number): T {
  const out = new (data.constructor as { new(n: number): T })(keptCount);
  for (let i = 0, k = 0; i < keep.length; i++) if (keep[i]) (out as any)[k++] = data[i];
  return out;
}

/** Numbers as an array of `dtype` (values are in range: ids, amplitudes). */
export function asDtype(values: ArrayLike<number>, dtype: NpyDtype): NpyData {
  const Ctor = ctorOf[dtype];
  if (values instanceof Ctor) return values as unknown as NpyData;
  if (dtype === 'int64' || dtype === 'uint64') {
    const out = new Ctor(values.length) as BigInt64Array | BigUint64Array;
    for (let i = 0; i < values.length; i++) out[i] = BigInt(Math.trunc(values[i]));
    return out;
  }
  const out = new Ctor(values.length) as Exclude<NpyData, BigInt64Array | BigUint64Array>;
  for (let i = 0; i < values.length; i++) out[i] = values[i];
  return out;
}

/** A staged array: complete on disk under a `.partial` name, waiting for `commit`. */
export interface StagedFile { target: string; partial: PartialFile }

export function stageArray(target: string, arr: NpyArray): StagedFile {
  const partial = new PartialFile(target);
  try {
    partial.write(npyHeaderBytes(arr.dtype, arr.shape));
    partial.write(new Uint8Array(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength));
  } catch (err) {
    partial.abort();
    throw err;
  }
  return { target, partial };
}

/**
 * Rows of `source` whose `keep` flag is set, staged at `target` with the same dtype and row shape
 * (C order; a Fortran-order source is reordered while reading).
 */
export function stageKeptRows(source: string, target: string, keep: Uint8Array, keptCount: number, signal?: AbortSignal): StagedFile {
  let dtype: NpyDtype;
  let shape: number[];
  try {
    ({ dtype, shape } = readNpyHeader(source));
  } catch (err) {
    if (err instanceof NpyError) throw new StageError(err.message);
    throw err;
  }
  if (shape.length === 0 || shape[0] !== keep.length) {
    throw new StageError(`${source}: ${shape.length ? shape[0] : 0} rows; expected ${keep.length}, one per spike of spike_times.npy`);
  }
  const rest = shape.slice(1);
  const perRow = rest.reduce((a, b) => a * b, 1);
  const rowBytes = Math.max(1, perRow * ctorOf[dtype].BYTES_PER_ELEMENT);
  const rowsPerBlock = Math.max(1, Math.floor(blockBytes / rowBytes));
  const partial = new PartialFile(target);
  try {
    partial.write(npyHeaderBytes(dtype, [keptCount, ...rest]));
    for (let start = 0; start < keep.length; start += rowsPerBlock) {
      if (signal?.aborted) throw new StageError('stopped');
      let block: NpyArray;
      try {
        block = readNpyRows(source, start, rowsPerBlock);
      } catch (err) {
        if (err instanceof NpyError) throw new StageError(err.message);
        throw err;
      }
      const rows = block.shape[0];
      const bytes = new Uint8Array(block.data.buffer, block.data.byteOffset, block.data.byteLength);
      // Kept rows are packed to the front of the block and written in one call: a few percent of
      // spikes go, so per-run writes would be a system call every few rows.
      let packed = 0;
      let runStart = -1;
      for (let r = 0; r <= rows; r++) {
        const kept = r < rows && keep[start + r] === 1;
        if (kept && runStart < 0) runStart = r;
        if (!kept && runStart >= 0) {
          if (packed !== runStart * rowBytes) bytes.copyWithin(packed, runStart * rowBytes, r * rowBytes);
          packed += (r - runStart) * rowBytes;
          runStart = -1;
        }
      }
      partial.write(bytes.subarray(0, packed));
    }
  } catch (err) {
    partial.abort();
    throw err;
  }
  return { target, partial };
}

/** Signature-ready path of a staged file (the inode and mtime survive the rename). */
export function stagedPath(f: StagedFile): string {
  return f.partial.tmpPath;
}

export function commitAll(files: StagedFile[]): void {
  for (const f of files) f.partial.commit();
}

export function abortAll(files: StagedFile[]): void {
  for (const f of files) f.partial.abort();
}
