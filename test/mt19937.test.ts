/**
 * lib/numeric/mt19937.ts against numbers the real numpy 1.24 printed (test/fixtures/golden/
 * numpy_mt19937.json, made by `npm run golden`): raw 32-bit draws after np.random.seed(n),
 * np.random.permutation(n) for sizes that need every masking width, and several permutations of
 * arrays drawn one after the other from one seeded generator.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import crypto from 'node:crypto';
import path from 'node:path';
import { Mt19937 } from '../lib/numeric/mt19937.js';
import { goldenDir, readJson } from '../bench/oracle/fixtures.js';

const numpy = readJson(path.join(goldenDir, 'numpy_mt19937.json'));

test('raw draws after np.random.seed, for seeds from 0 to 2^32 - 1', () => {
  for (const { seed, uint32 } of numpy.draws) {
    const g = new Mt19937(seed);
    assert.equal(Array.from({ length: uint32.length }, () => g.nextUint32()), uint32, `seed ${seed}`);
  }
});

test('np.random.permutation(n), whole permutations compared by sha256', () => {
  for (const { seed, n, head, tail, sha256 } of numpy.permutations) {
    const p = new Mt19937(seed).permutation(n);
    assert.equal(Array.from(p.subarray(0, 20)), head, `seed ${seed}, n ${n}: first entries`);
    assert.equal(Array.from(p.subarray(Math.max(0, n - 5))), tail, `seed ${seed}, n ${n}: last entries`);
    const hash = crypto.createHash('sha256').update(Buffer.from(p.buffer, p.byteOffset, p.byteLength)).digest('hex');
    assert.is(hash, sha256, `seed ${seed}, n ${n}`);
  }
});

test('one generator through permutations of arrays (0, 1 and more entries), then raw draws', () => {
  const g = new Mt19937(9999);
  for (const { n, permutation } of numpy.shuffles) {
    const a = Int32Array.from({ length: n }, (_, i) => i * 3 + 1);
    assert.equal(Array.from(g.shuffle(a)), permutation, `n ${n}`);
  }
  assert.equal(Array.from({ length: numpy.after.length }, () => g.nextUint32()), numpy.after);
});

test('a seed outside numpy\'s range is an internal error', () => {
  assert.throws(() => new Mt19937(-1), /seed must be a whole number in \[0, 2\^32\)/);
  assert.throws(() => new Mt19937(2 ** 32), /seed must be a whole number/);
});

test.run();
