/**
 * NumPy `.npy` files (format versions 1.0, 2.0 and 3.0): the arrays Kilosort and the Allen modules
 * exchange. Only what those files use is supported: little-endian numeric dtypes; Fortran-order
 * files are read (and returned in C order), files are written in C order.
 *
 * Layout: magic `\x93NUMPY`, major and minor version bytes, the header length (uint16 for 1.0,
 * uint32 for 2.0/3.0), a Python dict literal padded with spaces to a 64-byte boundary and ended
 * by `\n`, then the raw data.
 */
import fs from 'node:fs';
import os from 'node:os';
import { PartialFile } from '../base/atomicFile.js';

export type NpyDtype = 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'float32' | 'float64';
export type NpyData = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array | Float32Array | Float64Array;
export interface NpyArray { dtype: NpyDtype; shape: number[]; data: NpyData }
export interface NpyHeader { dtype: NpyDtype; shape: number[]; dataOffset: number; fortranOrder: boolean }

/** A file that is not a readable `.npy` of a supported kind; the message names the file. */
export class NpyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NpyError';
  }
}

type TypedArrayCtor = { new(length: number): NpyData; new(buffer: ArrayBuffer, byteOffset: number, length: number): NpyData; BYTES_PER_ELEMENT: number };

interface DtypeInfo { descr: string; ctor: TypedArrayCtor; bytes: number }

const dtypes: Record<NpyDtype, DtypeInfo> = {
  int8: { descr: '|i1', ctor: Int8Array, bytes: 1 },
  uint8: { descr: '|u1', ctor: Uint8Array, bytes: 1 },
  int16: { descr: '<i2', ctor: Int16Array, bytes: 2 },
  uint16: { descr: '<u2', ctor: Uint16Array, bytes: 2 },
  int32: { descr: '<i4', ctor: Int32Array, bytes: 4 },
  uint32: { descr: '<u4', ctor: Uint32Array, bytes: 4 },
  int64: { descr: '<i8', ctor: BigInt64Array, bytes: 8 },
  uint64: { descr: '<u8', ctor: BigUint64Array, bytes: 8 },
  float32: { descr: '<f4', ctor: Float32Array, bytes: 4 },
  float64: { descr: '<f8', ctor: Float64Array, bytes: 8 },
};

const byKindAndSize = new Map<string, NpyDtype>(
  (Object.keys(dtypes) as NpyDtype[]).map((d) => [dtypes[d].descr.slice(1), d]),
);

const magic = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
const align = 64;
// numpy leaves room for axis 0 to grow in place (np.lib.format.GROWTH_AXIS_MAX_DIGITS);
// doing the same makes our files byte-identical to np.save's.
const growthAxisMaxDigits = 21;

// Typed arrays use the host's byte order; .npy data here is little-endian.
const hostIsLittleEndian = os.endianness() === 'LE';

/** Bytes per element of a dtype. */
export function npyItemSize(dtype: NpyDtype): number {
  return dtypes[dtype].bytes;
}

function parseDescr(file: string, descr: string): NpyDtype {
  const order = descr[0];
  const kindSize = descr.slice(1);
  const dtype = byKindAndSize.get(kindSize);
  if (descr === '|O' || descr === '<O' || descr === '>O') {
    throw new NpyError(`${file}: object arrays (dtype '|O') are not supported; expected a numeric dtype such as '<i2' or '<f8'`);
  }
  if (!dtype || !'<>|='.includes(order)) {
    throw new NpyError(`${file}: unsupported dtype '${descr}'; expected one of ${Object.values(dtypes).map((d) => `'${d.descr}'`).join(', ')}`);
  }
  // Single bytes have no order, so any prefix means the same thing.
  if (dtypes[dtype].bytes > 1 && order === '>') {
    throw new NpyError(`${file}: big-endian dtype '${descr}' is not supported; expected little-endian '<${kindSize}' (resave with arr.astype('<${kindSize}'))`);
  }
  if (dtypes[dtype].bytes > 1 && order !== '<') {
    throw new NpyError(`${file}: dtype '${descr}' has no explicit byte order; expected little-endian '<${kindSize}'`);
  }
  return dtype;
}

/** Read the dict literal's three keys. numpy writes it with repr(), so a small grammar suffices. */
function parseHeaderDict(file: string, text: string): { dtype: NpyDtype; fortranOrder: boolean; shape: number[] } {
  const body = text.trim();
  if (!body.startsWith('{') || !body.endsWith('}')) {
    throw new NpyError(`${file}: bad .npy header: expected a dict literal like {'descr': '<i2', 'fortran_order': False, 'shape': (10,)}, got ${JSON.stringify(body.slice(0, 80))}`);
  }
  const descrList = /['"]descr['"]\s*:\s*\[/.exec(body);
  if (descrList) throw new NpyError(`${file}: structured (record) dtypes are not supported; expected a plain numeric dtype such as '<i2'`);
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(body);
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(body);
  const shape = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(body);
  if (!descr || !fortran || !shape) {
    const missing = [!descr && 'descr', !fortran && 'fortran_order', !shape && 'shape'].filter(Boolean).join(', ');
    throw new NpyError(`${file}: bad .npy header: missing ${missing} in ${JSON.stringify(body.slice(0, 120))}`);
  }
  const dims: number[] = [];
  for (const part of shape[1].split(',')) {
    const t = part.trim().replace(/L$/, ''); // Python 2 wrote longs as 3L
    if (t === '') continue;
    if (!/^\d+$/.test(t)) throw new NpyError(`${file}: bad .npy header: shape (${shape[1]}) is not a tuple of non-negative integers`);
    dims.push(Number(t));
  }
  return { dtype: parseDescr(file, descr[1]), fortranOrder: fortran[1] === 'True', shape: dims };
}

function parseHeader(file: string, head: Buffer, fileSize: number): NpyHeader {
  if (head.length < 10 || !head.subarray(0, 6).equals(magic)) {
    throw new NpyError(`${file}: not a .npy file (expected the magic bytes \\x93NUMPY at the start)`);
  }
  const major = head[6];
  const minor = head[7];
  let lenBytes: number;
  if (major === 1) lenBytes = 2;
  else if (major === 2 || major === 3) lenBytes = 4;
  else throw new NpyError(`${file}: unsupported .npy format version ${major}.${minor}; expected 1.0, 2.0 or 3.0`);
  if (head.length < 8 + lenBytes) throw new NpyError(`${file}: truncated .npy header`);
  const headerLen = lenBytes === 2 ? head.readUInt16LE(8) : head.readUInt32LE(8);
  const dataOffset = 8 + lenBytes + headerLen;
  if (dataOffset > fileSize || dataOffset > head.length) {
    throw new NpyError(`${file}: truncated .npy header: expected ${headerLen} header bytes, file has ${Math.max(0, fileSize - 8 - lenBytes)}`);
  }
  // Version 3.0 allows UTF-8 (field names); 1.0 and 2.0 are latin1. Neither matters for our keys.
  const text = head.subarray(8 + lenBytes, dataOffset).toString(major === 3 ? 'utf8' : 'latin1');
  const dict = parseHeaderDict(file, text);
  return { ...dict, dataOffset };
}

function readHeaderFd(file: string, fd: number, fileSize: number): NpyHeader {
  // Headers are small; read a first block, then the rest if a long one says so.
  let head = Buffer.alloc(Math.min(fileSize, 4096));
  readFully(fd, head, 0);
  if (head.length >= 12 && head.subarray(0, 6).equals(magic) && head[6] !== 1) {
    const need = 12 + head.readUInt32LE(8);
    if (need > head.length && need <= fileSize) {
      head = Buffer.alloc(need);
      readFully(fd, head, 0);
    }
  } else if (head.length >= 10 && head.subarray(0, 6).equals(magic)) {
    const need = 10 + head.readUInt16LE(8);
    if (need > head.length && need <= fileSize) {
      head = Buffer.alloc(need);
      readFully(fd, head, 0);
    }
  }
  return parseHeader(file, head, fileSize);
}

function readFully(fd: number, into: Uint8Array, position: number): number {
  let off = 0;
  while (off < into.length) {
    const n = fs.readSync(fd, into, off, into.length - off, position + off);
    if (n === 0) break;
    off += n;
  }
  return off;
}

function withFile<T>(file: string, fn: (fd: number, size: number) => T): T {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    throw new NpyError(`${file}: cannot open: ${(err as Error).message}`);
  }
  try {
    return fn(fd, fs.fstatSync(fd).size);
  } finally {
    fs.closeSync(fd);
  }
}

function checkReadable(file: string, h: NpyHeader): void {
  if (!hostIsLittleEndian) throw new NpyError(`${file}: reading .npy needs a little-endian machine`);
}

function product(dims: number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** Read a file's header only: dtype, shape, and where the data starts. */
export function readNpyHeader(path: string): NpyHeader {
  return withFile(path, (fd, size) => readHeaderFd(path, fd, size));
}

function truncated(file: string, h: NpyHeader, size: number): NpyError {
  const expected = h.dataOffset + product(h.shape) * dtypes[h.dtype].bytes;
  return new NpyError(`${file}: truncated: shape (${h.shape.join(', ')}) of ${h.dtype} needs ${expected} bytes, file has ${size}`);
}

function readInto(file: string, fd: number, size: number, h: NpyHeader, into: NpyData, firstElement: number): void {
  const bytes = new Uint8Array(into.buffer, into.byteOffset, into.byteLength);
  if (readFully(fd, bytes, h.dataOffset + firstElement * dtypes[h.dtype].bytes) < bytes.length) throw truncated(file, h, size);
}

/** True when Fortran order changes the layout: more than one axis longer than 1. */
function isTransposed(h: NpyHeader): boolean {
  return h.fortranOrder && h.shape.filter((d) => d > 1).length > 1;
}

/**
 * Where each element of one row (axis 0 fixed) sits in C order, listed in Fortran order of the
 * remaining axes. In a Fortran-order file the elements of axis 0 are contiguous, so a row block is
 * one contiguous run per remaining index.
 */
function fortranRowOrder(rest: number[]): Int32Array {
  const n = product(rest);
  const out = new Int32Array(n);
  const cStride = rest.map((_, k) => product(rest.slice(k + 1)));
  const idx = rest.map(() => 0);
  for (let m = 0; m < n; m++) {
    let c = 0;
    for (let k = 0; k < rest.length; k++) c += idx[k] * cStride[k];
    out[m] = c;
    for (let k = 0; k < rest.length; k++) {
      if (++idx[k] < rest[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}

/** Rows [start, start+n) in C order, whatever order the file is in. */
function readRowBlock(file: string, fd: number, size: number, h: NpyHeader, start: number, n: number): NpyArray {
  const info = dtypes[h.dtype];
  const rest = h.shape.slice(1);
  const perRow = product(rest);
  const data = new info.ctor(n * perRow);
  if (!isTransposed(h)) {
    readInto(file, fd, size, h, data, start * perRow);
    return { dtype: h.dtype, shape: [n, ...rest], data };
  }
  const rows = h.shape[0];
  const order = fortranRowOrder(rest);
  // Reading the whole file at once avoids one read per column; a row block reads one run per column.
  const whole = start === 0 && n === rows;
  const run = new info.ctor(whole ? rows * perRow : n);
  if (whole) readInto(file, fd, size, h, run, 0);
  for (let m = 0; m < perRow; m++) {
    if (!whole) readInto(file, fd, size, h, run, m * rows + start);
    const base = whole ? m * rows : 0;
    const c = order[m];
    for (let r = 0; r < n; r++) (data as any)[r * perRow + c] = (run as any)[base + r];
  }
  return { dtype: h.dtype, shape: [n, ...rest], data };
}

/**
 * Read a whole array into memory, in C order. Fortran-order files (npy-matlab, which Kilosort
 * uses, writes them) are reordered on reading.
 */
export function readNpy(path: string): NpyArray {
  return withFile(path, (fd, size) => {
    const h = readHeaderFd(path, fd, size);
    checkReadable(path, h);
    if (size < h.dataOffset + product(h.shape) * dtypes[h.dtype].bytes) throw truncated(path, h, size);
    if (h.shape.length === 0) {
      const data = new dtypes[h.dtype].ctor(1);
      readInto(path, fd, size, h, data, 0);
      return { dtype: h.dtype, shape: [], data };
    }
    return readRowBlock(path, fd, size, h, 0, h.shape[0]);
  });
}

/**
 * Read rows `startRow .. startRow+rowCount-1` along axis 0 without loading the rest, for arrays
 * larger than memory (pc_features.npy). A range running past the end is cut at the last row, so
 * a loop in fixed steps ends with a short block; the returned shape says how many rows came back.
 */
export function readNpyRows(path: string, startRow: number, rowCount: number): NpyArray {
  if (!Number.isInteger(startRow) || !Number.isInteger(rowCount) || startRow < 0 || rowCount < 0) {
    throw new NpyError(`${path}: bad row range: start ${startRow}, count ${rowCount} (expected non-negative integers)`);
  }
  return withFile(path, (fd, size) => {
    const h = readHeaderFd(path, fd, size);
    checkReadable(path, h);
    if (h.shape.length === 0) throw new NpyError(`${path}: a 0-dimensional array has no rows`);
    const n = Math.max(0, Math.min(rowCount, h.shape[0] - startRow));
    return readRowBlock(path, fd, size, h, startRow, n);
  });
}

/** The header bytes np.save would write for this dtype and shape (version 1.0, or 2.0 when long). */
export function npyHeaderBytes(dtype: NpyDtype, shape: number[]): Buffer {
  const shapeRepr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${dtypes[dtype].descr}', 'fortran_order': False, 'shape': ${shapeRepr}, }`;
  if (shape.length > 0) dict += ' '.repeat(Math.max(0, growthAxisMaxDigits - String(shape[0]).length));
  for (const lenBytes of [2, 4]) {
    const unpadded = magic.length + 2 + lenBytes + dict.length + 1;
    const pad = (align - (unpadded % align)) % align;
    const headerLen = dict.length + pad + 1;
    if (lenBytes === 2 && headerLen >= 0x10000) continue;
    const out = Buffer.alloc(magic.length + 2 + lenBytes + headerLen);
    magic.copy(out, 0);
    out[6] = lenBytes === 2 ? 1 : 2;
    out[7] = 0;
    if (lenBytes === 2) out.writeUInt16LE(headerLen, 8);
    else out.writeUInt32LE(headerLen, 8);
    out.write(dict + ' '.repeat(pad) + '\n', 8 + lenBytes, 'latin1');
    return out;
  }
  throw new Error('internal error: npy header does not fit');
}

/** Write an array atomically: readers see the old file or the complete new one, never a short one. */
export function writeNpy(path: string, arr: NpyArray): void {
  const info = dtypes[arr.dtype];
  if (!info) throw new NpyError(`${path}: cannot write dtype '${String(arr.dtype)}'`);
  if (!(arr.data instanceof info.ctor)) {
    throw new NpyError(`${path}: data is a ${arr.data.constructor.name}, expected ${info.ctor.name} for dtype ${arr.dtype}`);
  }
  if (!arr.shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new NpyError(`${path}: bad shape (${arr.shape.join(', ')}): expected non-negative integers`);
  }
  if (product(arr.shape) !== arr.data.length) {
    throw new NpyError(`${path}: shape (${arr.shape.join(', ')}) holds ${product(arr.shape)} elements, data has ${arr.data.length}`);
  }
  if (!hostIsLittleEndian) throw new NpyError(`${path}: writing .npy needs a little-endian machine`);
  const out = new PartialFile(path);
  try {
    out.write(npyHeaderBytes(arr.dtype, arr.shape));
    out.write(new Uint8Array(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength));
    out.commit();
  } catch (err) {
    out.abort();
    throw err;
  }
}

/** Any dtype as float64; 64-bit integers beyond 2^53 lose precision (sample indices never get there). */
export function toNumberArray(arr: NpyArray): Float64Array {
  const d = arr.data;
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
    const out = new Float64Array(d.length);
    for (let i = 0; i < d.length; i++) out[i] = Number(d[i]);
    return out;
  }
  return Float64Array.from(d);
}
