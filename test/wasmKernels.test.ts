/**
 * Every hand-assembled WebAssembly kernel compiles on this Node and is the path taken, and gives
 * what the plain JavaScript it stands in for gives. A kernel that failed to compile would fall back
 * to JavaScript silently, and a comparison of the two would then compare JavaScript with itself.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { timed } from './rig.js';
import { nearCandidatesWasm } from '../lib/numeric/nearCandidatesWasm.js';
import { nearestNeighbors } from '../lib/numeric/nearestNeighbors.js';
import { SeededRandom } from '../lib/numeric/seededRandom.js';
import { compileSumKernel, createSharedMemory, instantiateSumKernel } from '../stages/mean_waveforms/sumKernel.js';

test('nearest-neighbour candidate kernel: compiles, runs, and agrees with the JavaScript search', timed(() => {
  const rng = new SeededRandom(11);
  const n = 203, d = 5, kk = 4;
  const x = new Float64Array(n * d);
  for (let i = 0; i < x.length; i++) x[i] = rng.nextFloat() * 2 - 1;
  const norm = new Float64Array(n);
  for (let r = 0; r < n; r++) for (let q = 0; q < d; q++) norm[r] += x[r * d + q] ** 2;
  const lists = nearCandidatesWasm(x, norm, n, d, kk);
  assert.ok(lists, 'the WebAssembly SIMD kernel did not compile: the JavaScript fallback would run instead');
  // Each row's best candidate is its true nearest neighbour (ties aside, with random data).
  const exact = nearestNeighbors(x, n, d, 1, false);
  let same = 0;
  for (let r = 0; r < n; r++) if (lists!.index[r * kk] === exact[r]) same++;
  assert.is(same, n);
}));

test('snippet-sum kernel: compiles and adds int16 groups into int32 sums exactly', timed(() => {
  const module = compileSumKernel();
  assert.ok(module, 'the WebAssembly SIMD kernel did not compile: the JavaScript fallback would run instead');
  const memory = createSharedMemory(1 << 16);
  const add = instantiateSumKernel(module!, memory);
  const groups = 5;
  const dst = new Int32Array(memory.buffer, 0, groups * 8);
  const src = new Int16Array(memory.buffer, 4096, groups * 8);
  const expected = new Int32Array(groups * 8);
  for (let i = 0; i < src.length; i++) { src[i] = (i * 7919) % 65536 - 32768; dst[i] = i * 1000; expected[i] = dst[i] + src[i]; }
  add(0, 4096, groups);
  assert.equal(Array.from(dst), Array.from(expected));
}));

test.run();
