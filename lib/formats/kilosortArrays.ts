/**
 * Checked reads of a Kilosort folder's arrays: every missing, mistyped, misshapen or truncated file
 * becomes a StageError naming the file and what was expected.
 */
import fs from 'node:fs';
import path from 'node:path';
import { StageError } from '../base/stageError.js';
import { readNpy, readNpyHeader, NpyError, npyItemSize, type NpyArray, type NpyData, type NpyDtype, type NpyHeader } from './npy.js';

export const integerDtypes: NpyDtype[] = ['int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64'];
export const floatDtypes: NpyDtype[] = ['float32', 'float64'];

/** Read a file's header, turning a missing or unreadable file into a StageError. */
export function header(dir: string, name: string, what: string): NpyHeader {
  const file = path.join(dir, name);
  if (!fs.existsSync(file)) throw new StageError(`${file}: missing; expected ${what} in the Kilosort output folder`);
  try {
    return readNpyHeader(file);
  } catch (err) {
    if (err instanceof NpyError) throw new StageError(err.message);
    throw err;
  }
}

export function read(dir: string, name: string): NpyArray {
  const file = path.join(dir, name);
  try {
    return readNpy(file);
  } catch (err) {
    if (err instanceof NpyError) throw new StageError(err.message);
    throw err;
  }
}

export function shapeText(shape: number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

export function checkDtype(dir: string, name: string, h: NpyHeader, allowed: NpyDtype[], what: string): void {
  if (!allowed.includes(h.dtype)) {
    throw new StageError(`${path.join(dir, name)}: dtype ${h.dtype}; expected ${what} (${allowed.join(', ')})`);
  }
}

/** A per-spike vector: (N,) or (N, 1). Returns N. */
export function vectorLength(dir: string, name: string, h: NpyHeader): number {
  const s = h.shape;
  if (s.length === 1) return s[0];
  if (s.length === 2 && s[1] === 1) return s[0];
  throw new StageError(`${path.join(dir, name)}: shape ${shapeText(s)}; expected a vector of shape (N,) or (N, 1)`);
}

export function checkLength(dir: string, name: string, n: number, expected: number, reference: string): void {
  if (n !== expected) {
    throw new StageError(`${path.join(dir, name)}: ${n} spikes; expected ${expected}, as in ${reference}`);
  }
}

/** Integer array to Uint32Array, rejecting negatives and values past uint32 (no spike id gets there). */
export function toUint32(dir: string, name: string, a: NpyArray, shared: boolean): Uint32Array {
  const d = a.data;
  if (d instanceof Uint32Array && !shared) return d;
  const out = shared ? new Uint32Array(new SharedArrayBuffer(d.length * 4)) : new Uint32Array(d.length);
  for (let i = 0; i < d.length; i++) {
    const v = Number(d[i]);
    if (!(v >= 0 && v <= 0xffffffff)) {
      throw new StageError(`${path.join(dir, name)}: value ${d[i]} at index ${i}; expected ids from 0 to 4294967295`);
    }
    out[i] = v;
  }
  return out;
}

export function toFloat64(d: NpyData, shared: boolean): Float64Array {
  if (d instanceof Float64Array && !shared) return d;
  const out = shared ? new Float64Array(new SharedArrayBuffer(d.length * 8)) : new Float64Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = Number(d[i]);
  return out;
}

/**
 * Read a large float array straight into one (shared) Float32Array in C order, in chunks: a single
 * read call stops at 2 GiB, and pc_features.npy of a long recording is bigger. Fortran-order files
 * (npy-matlab writes them) are transposed while reading, one contiguous axis-0 run at a time.
 */
export function readFloat32Large(dir: string, name: string, h: NpyHeader, shared: boolean): Float32Array {
  const file = path.join(dir, name);
  const total = h.shape.reduce((a, b) => a * b, 1);
  const itemBytes = npyItemSize(h.dtype);
  const size = fs.statSync(file).size;
  if (size < h.dataOffset + total * itemBytes) {
    throw new StageError(`${file}: truncated: shape ${shapeText(h.shape)} of ${h.dtype} needs ${h.dataOffset + total * itemBytes} bytes, file has ${size}`);
  }
  const out = shared ? new Float32Array(new SharedArrayBuffer(total * 4)) : new Float32Array(total);
  const fd = fs.openSync(file, 'r');
  try {
    const chunkElems = 1 << 24;
    const buf = Buffer.allocUnsafe(chunkElems * itemBytes);
    const readRun = (elemStart: number, count: number, sink: (src: Float32Array | Float64Array, at: number) => void) => {
      for (let done = 0; done < count;) {
        const n = Math.min(chunkElems, count - done);
        const bytes = n * itemBytes;
        let got = 0;
        while (got < bytes) {
          const r = fs.readSync(fd, buf, got, bytes - got, h.dataOffset + (elemStart + done) * itemBytes + got);
          if (r === 0) throw new StageError(`${file}: truncated while reading`);
          got += r;
        }
        const src = h.dtype === 'float32'
          ? new Float32Array(buf.buffer, buf.byteOffset, n)
          : new Float64Array(buf.buffer, buf.byteOffset, n);
        sink(src, done);
        done += n;
      }
    };
    const rows = h.shape[0];
    const rest = h.shape.slice(1);
    const perRow = rest.reduce((a, b) => a * b, 1);
    const transposed = h.fortranOrder && h.shape.filter((d) => d > 1).length > 1;
    if (!transposed && h.dtype === 'float32') {
      // Straight into the destination: no staging copy of a multi-GB array.
      const bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
      const chunkBytes = 1 << 30;
      for (let done = 0; done < bytes.length;) {
        const r = fs.readSync(fd, bytes, done, Math.min(chunkBytes, bytes.length - done), h.dataOffset + done);
        if (r === 0) throw new StageError(`${file}: truncated while reading`);
        done += r;
      }
    } else if (!transposed) {
      readRun(0, total, (src, at) => { out.set(src, at); });
    } else {
      // Run m holds axis 0 for the m-th combination of the other axes, counted in Fortran order.
      const cStride = rest.map((_, k) => rest.slice(k + 1).reduce((a, b) => a * b, 1));
      const idx = rest.map(() => 0);
      for (let m = 0; m < perRow; m++) {
        let c = 0;
        for (let k = 0; k < rest.length; k++) c += idx[k] * cStride[k];
        readRun(m * rows, rows, (src, at) => {
          for (let r = 0; r < src.length; r++) out[(at + r) * perRow + c] = src[r];
        });
        for (let k = 0; k < rest.length; k++) {
          if (++idx[k] < rest[k]) break;
          idx[k] = 0;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

/** Sorted distinct values (numpy's unique) of a uint32 array. */
export function distinctSorted(values: Uint32Array): number[] {
  if (values.length === 0) return [];
  const sorted = Uint32Array.from(values).sort();
  const out: number[] = [sorted[0]];
  for (let i = 1; i < sorted.length; i++) if (sorted[i] !== sorted[i - 1]) out.push(sorted[i]);
  return out;
}
