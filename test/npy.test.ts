import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { tempDir, testUnless, timed, writeFile } from './rig.js';
import {
  readNpy, readNpyHeader, readNpyRows, writeNpy, toNumberArray, npyHeaderBytes, NpyError,
  type NpyArray, type NpyData, type NpyDtype,
} from '../lib/formats/npy.js';

const python = '/usr/bin/python3';
const hasNumpy = spawnSync(python, ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;

const allDtypes: NpyDtype[] = ['int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64'];
const shapes = [[7], [5, 3], [4, 3, 2]];

const ctors = {
  int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, int32: Int32Array,
  uint32: Uint32Array, int64: BigInt64Array, uint64: BigUint64Array, float32: Float32Array, float64: Float64Array,
} as const;

/** Values that exercise sign, range and fractions: element i of the flat array. */
function valueAt(dtype: NpyDtype, i: number): number | bigint {
  switch (dtype) {
    case 'int8': return (i * 37) % 256 - 128;
    case 'uint8': return (i * 37) % 256;
    case 'int16': return (i * 4099) % 65536 - 32768;
    case 'uint16': return (i * 4099) % 65536;
    case 'int32': return (i * 99991) - 2 ** 31 + 5;
    case 'uint32': return 2 ** 32 - 1 - i * 99991;
    case 'int64': return BigInt(i) * 1000000007n - 9000000000000000000n;
    case 'uint64': return 18000000000000000000n + BigInt(i) * 1000000007n;
    case 'float32': return Math.fround(i * 0.25 - 3.5);
    case 'float64': return i / 3 - 1e-7;
    default: { const never: never = dtype; throw new Error(`internal error: ${never}`); }
  }
}

function sample(dtype: NpyDtype, shape: number[]): NpyArray {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new ctors[dtype](n) as NpyData;
  for (let i = 0; i < n; i++) (data as any)[i] = valueAt(dtype, i);
  return { dtype, shape, data };
}

function assertSameArray(got: NpyArray, want: NpyArray, what: string): void {
  assert.is(got.dtype, want.dtype, `${what}: dtype`);
  assert.equal(got.shape, want.shape, `${what}: shape`);
  assert.is(got.data.constructor, want.data.constructor, `${what}: typed array`);
  assert.equal(Array.from(got.data as any), Array.from(want.data as any), `${what}: values`);
}

function errorOf(fn: () => unknown): NpyError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, NpyError);
    return err as NpyError;
  }
  throw new Error('expected an NpyError');
}

function runPython(script: string, dir: string): string {
  const r = spawnSync(python, ['-c', script], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return r.stdout;
}

test('every dtype round-trips in 1, 2 and 3 dimensions', timed(() => {
  const d = tempDir();
  for (const dtype of allDtypes) {
    for (const shape of shapes) {
      const p = path.join(d, `${dtype}-${shape.length}.npy`);
      const arr = sample(dtype, shape);
      writeNpy(p, arr);
      const h = readNpyHeader(p);
      assert.equal(h, { dtype, shape, dataOffset: 128, fortranOrder: false });
      assertSameArray(readNpy(p), arr, p);
    }
  }
  assert.equal(fs.readdirSync(d).filter((f) => f.includes('partial')), []);
}));

test('headers are padded to 64 bytes and end in a newline, as np.save writes them', timed(() => {
  const h = npyHeaderBytes('int16', [3, 4]);
  assert.is(h.length % 64, 0);
  assert.is(h[6], 1);
  assert.is(h[h.length - 1], 0x0a);
  assert.ok(h.toString('latin1').includes("{'descr': '<i2', 'fortran_order': False, 'shape': (3, 4), }"));
  assert.ok(npyHeaderBytes('uint64', [9]).toString('latin1').includes("'shape': (9,), }"));
}));

test('readNpyRows reads blocks along axis 0 and cuts the last block short', timed(() => {
  const d = tempDir();
  const p = path.join(d, 'rows.npy');
  const arr = sample('float32', [10, 3, 2]);
  writeNpy(p, arr);
  const got = readNpyRows(p, 4, 3);
  assert.equal(got.shape, [3, 3, 2]);
  assert.equal(Array.from(got.data as Float32Array), Array.from((arr.data as Float32Array).subarray(24, 42)));
  const tail = readNpyRows(p, 8, 5);
  assert.equal(tail.shape, [2, 3, 2]);
  assert.equal(Array.from(tail.data as Float32Array), Array.from((arr.data as Float32Array).subarray(48)));
  assert.equal(readNpyRows(p, 10, 4).shape, [0, 3, 2]);
  const big = sample('uint64', [6]);
  writeNpy(p, big);
  assert.equal(Array.from(readNpyRows(p, 1, 2).data as BigUint64Array), [big.data[1], big.data[2]]);
  assert.is(errorOf(() => readNpyRows(p, -1, 2)).message, `${p}: bad row range: start -1, count 2 (expected non-negative integers)`);
}));

test('toNumberArray gives float64 for every dtype', timed(() => {
  assert.equal(Array.from(toNumberArray(sample('int16', [3]))), [-32768, 4099 - 32768, 8198 - 32768]);
  assert.equal(Array.from(toNumberArray({ dtype: 'uint64', shape: [2], data: new BigUint64Array([5n, 2n ** 40n]) })), [5, 2 ** 40]);
  assert.equal(Array.from(toNumberArray({ dtype: 'int64', shape: [1], data: new BigInt64Array([-7n]) })), [-7]);
}));

/** Replace a file's header with a hand-made one (other versions, other dtypes, other orders). */
function withHeader(major: number, dict: string, data: Uint8Array): Buffer {
  const lenBytes = major === 1 ? 2 : 4;
  const unpadded = 8 + lenBytes + dict.length + 1;
  const text = dict + ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const head = Buffer.alloc(8 + lenBytes);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]).copy(head);
  if (lenBytes === 2) head.writeUInt16LE(Buffer.byteLength(text), 8);
  else head.writeUInt32LE(Buffer.byteLength(text), 8);
  return Buffer.concat([head, Buffer.from(text, major === 3 ? 'utf8' : 'latin1'), data]);
}

function bytesOf(data: NpyData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

test('version 2.0 and 3.0 headers read like 1.0', timed(() => {
  const d = tempDir();
  const arr = sample('int32', [4, 5]);
  for (const major of [2, 3]) {
    const p = writeFile(d, `v${major}.npy`, withHeader(major, "{'descr': '<i4', 'fortran_order': False, 'shape': (4, 5), }", bytesOf(arr.data)));
    assert.is(readNpyHeader(p).dataOffset, 128);
    assertSameArray(readNpy(p), arr, p);
    assertSameArray(readNpyRows(p, 1, 2), { ...arr, shape: [2, 5], data: (arr.data as Int32Array).slice(5, 15) }, p);
  }
  // A header longer than 64 KiB needs version 2.0's 4-byte length field.
  const long = `{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'pad': '${'x'.repeat(70000)}'}`;
  const p = writeFile(d, 'long.npy', withHeader(2, long, bytesOf(new Float64Array([1, 2, 3]))));
  assert.equal(Array.from(readNpy(p).data as Float64Array), [1, 2, 3]);
}));

test('a Fortran-order file (as npy-matlab writes) comes back in C order', timed(() => {
  const d = tempDir();
  // C-order values 0..23 of shape (2,3,4) laid out column-major: element (i,j,k) at i + 2j + 6k.
  const f = new Int16Array(24);
  for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 4; k++) f[i + 2 * j + 6 * k] = i * 12 + j * 4 + k;
  const p = writeFile(d, 'f.npy', withHeader(1, "{'descr': '<i2', 'fortran_order': True, 'shape': (2, 3, 4), }", bytesOf(f)));
  assert.is(readNpyHeader(p).fortranOrder, true);
  assert.equal(Array.from(readNpy(p).data as Int16Array), Array.from({ length: 24 }, (_, i) => i));
  assert.equal(Array.from(readNpyRows(p, 1, 1).data as Int16Array), Array.from({ length: 12 }, (_, i) => 12 + i));
  // (N,1) column vectors, Kilosort's spike_times.npy, are the same bytes in either order.
  const col = writeFile(d, 'col.npy', withHeader(1, "{'descr': '<u8', 'fortran_order': True, 'shape': (3, 1), }", bytesOf(new BigUint64Array([1n, 5n, 9n]))));
  assert.equal(Array.from(readNpy(col).data as BigUint64Array), [1n, 5n, 9n]);
}));

test('each kind of bad file gets an error that names the file and what was expected', timed(() => {
  const d = tempDir();
  const i16 = bytesOf(new Int16Array([1, 2, 3]));
  const cases: Array<[string, Uint8Array | string, string]> = [
    ['magic.npy', 'PK\u0003\u0004 this is a zip', 'not a .npy file (expected the magic bytes \\x93NUMPY at the start)'],
    ['empty.npy', '', 'not a .npy file (expected the magic bytes \\x93NUMPY at the start)'],
    ['dict.npy', withHeader(1, 'descr=<i2', i16), 'bad .npy header: expected a dict literal like {\'descr\': \'<i2\', \'fortran_order\': False, \'shape\': (10,)}, got "descr=<i2"'],
    ['noshape.npy', withHeader(1, "{'descr': '<i2', 'fortran_order': False, }", i16), 'bad .npy header: missing shape in "{\'descr\': \'<i2\', \'fortran_order\': False, }"'],
    ['version.npy', Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 4, 0, 0, 0, 0, 0])]), 'unsupported .npy format version 4.0; expected 1.0, 2.0 or 3.0'],
    ['big.npy', withHeader(1, "{'descr': '>i2', 'fortran_order': False, 'shape': (3,), }", i16), "big-endian dtype '>i2' is not supported; expected little-endian '<i2' (resave with arr.astype('<i2'))"],
    ['object.npy', withHeader(1, "{'descr': '|O', 'fortran_order': False, 'shape': (3,), }", i16), "object arrays (dtype '|O') are not supported; expected a numeric dtype such as '<i2' or '<f8'"],
    ['complex.npy', withHeader(1, "{'descr': '<c16', 'fortran_order': False, 'shape': (3,), }", i16), "unsupported dtype '<c16'; expected one of '|i1', '|u1', '<i2', '<u2', '<i4', '<u4', '<i8', '<u8', '<f4', '<f8'"],
    ['record.npy', withHeader(1, "{'descr': [('a', '<i2')], 'fortran_order': False, 'shape': (3,), }", i16), "structured (record) dtypes are not supported; expected a plain numeric dtype such as '<i2'"],
    ['short.npy', withHeader(1, "{'descr': '<i2', 'fortran_order': False, 'shape': (4, 3), }", i16), 'truncated: shape (4, 3) of int16 needs 152 bytes, file has 134'],
    ['shorthead.npy', withHeader(1, "{'descr': '<i2', 'fortran_order': False, 'shape': (3,), }", i16).subarray(0, 40), 'truncated .npy header: expected 118 header bytes, file has 30'],
  ];
  for (const [name, content, message] of cases) {
    const p = writeFile(d, name, content);
    assert.is(errorOf(() => readNpy(p)).message, `${p}: ${message}`, name);
  }
  // Reading rows past the good part of a short file fails the same way; rows before it are fine.
  const short = path.join(d, 'short.npy');
  assert.is(errorOf(() => readNpyRows(short, 0, 4)).message, `${short}: truncated: shape (4, 3) of int16 needs 152 bytes, file has 134`);
  assert.equal(Array.from(readNpyRows(short, 0, 1).data as Int16Array), [1, 2, 3]);
  const missing = path.join(d, 'nope.npy');
  assert.match(errorOf(() => readNpyHeader(missing)).message, `${missing}: cannot open: ENOENT`);
}));

test('writeNpy refuses data that does not match the dtype or shape', timed(() => {
  const d = tempDir();
  const p = path.join(d, 'x.npy');
  assert.is(errorOf(() => writeNpy(p, { dtype: 'int16', shape: [2], data: new Int32Array(2) })).message, `${p}: data is a Int32Array, expected Int16Array for dtype int16`);
  assert.is(errorOf(() => writeNpy(p, { dtype: 'int16', shape: [2, 2], data: new Int16Array(3) })).message, `${p}: shape (2, 2) holds 4 elements, data has 3`);
  assert.equal(fs.readdirSync(d), []);
}));

testUnless(hasNumpy ? undefined : '/usr/bin/python3 has no numpy (apt-get install python3-numpy)')('files from real numpy read correctly, and ours are byte-identical to np.save', timed(() => {
  const d = tempDir();
  // numpy builds the same values as valueAt(), element by element, in every dtype and shape.
  const script = `
import numpy as np
def values(dt, n):
    i = np.arange(n, dtype=object)
    v = {'int8': (i*37) % 256 - 128, 'uint8': (i*37) % 256, 'int16': (i*4099) % 65536 - 32768, 'uint16': (i*4099) % 65536,
         'int32': i*99991 - 2**31 + 5, 'uint32': 2**32 - 1 - i*99991, 'int64': i*1000000007 - 9000000000000000000,
         'uint64': 18000000000000000000 + i*1000000007}
    if dt == 'float32': return (np.arange(n) * 0.25 - 3.5).astype(np.float32)
    if dt == 'float64': return np.arange(n) / 3 - 1e-7
    return np.array(list(v[dt]), dtype=dt)
for dt in ${JSON.stringify(allDtypes)}:
    for shape in ${JSON.stringify(shapes)}:
        a = values(dt, int(np.prod(shape))).reshape(shape)
        np.save(f'np-{dt}-{len(shape)}.npy', a)
        np.save(f'npF-{dt}-{len(shape)}.npy', np.asfortranarray(a))
        with open(f'np3-{dt}-{len(shape)}.npy', 'wb') as f:
            np.lib.format.write_array(f, a, version=(3, 0))
`;
  runPython(script, d);
  for (const dtype of allDtypes) {
    for (const shape of shapes) {
      const want = sample(dtype, shape);
      for (const prefix of ['np', 'npF', 'np3']) {
        const p = path.join(d, `${prefix}-${dtype}-${shape.length}.npy`);
        assertSameArray(readNpy(p), want, p);
        const rows = readNpyRows(p, 1, 2);
        const perRow = want.data.length / shape[0];
        assert.equal(Array.from(rows.data as any), Array.from((want.data as any).slice(perRow, perRow * 3)), `${p}: rows`);
      }
      const ours = path.join(d, `ours-${dtype}-${shape.length}.npy`);
      writeNpy(ours, want);
      assert.ok(fs.readFileSync(ours).equals(fs.readFileSync(path.join(d, `np-${dtype}-${shape.length}.npy`))), `${ours} differs from np.save`);
    }
  }
  // And numpy reads ours.
  const out = runPython(`
import numpy as np, glob
for p in sorted(glob.glob('ours-*.npy')):
    a = np.load(p)
    print(p, a.dtype, a.shape)
`, d);
  assert.ok(out.includes('ours-int16-3.npy int16 (4, 3, 2)'), out);
  assert.ok(out.includes('ours-uint64-1.npy uint64 (7,)'), out);
}));

test.run();
