/** Signatures and how a record's signature is compared with a file now: by the method it was made with. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './rig.js';
import { compareWithRecord, contentHash, recordSignature, statSignature } from '../lib/base/signature.js';

const hashOfA = 'aa';
const never = () => { throw new Error('read the file although its size, time and inode say enough'); };

test('same size, time and inode: same, nothing read; a record with both signatures too', () => {
  assert.is(compareWithRecord('10:5:7', '10:5:7', never), 'same');
  assert.is(compareWithRecord(`10:5:7|sha256:${hashOfA}:10`, '10:5:7', never), 'same');
});

test('a copy that kept its times (new inode): confirmed; by content where the record holds a hash', () => {
  assert.is(compareWithRecord('10:5:7', '10:5:8', never), 'confirmed');
  assert.is(compareWithRecord(`10:5:7|sha256:${hashOfA}:10`, '10:5:8', () => hashOfA), 'confirmed');
  assert.is(compareWithRecord(`10:5:7|sha256:${hashOfA}:10`, '10:5:8', () => 'bb'), 'changed');
});

test('a new time: changed for a stat record, compared by content for a record with a hash', () => {
  assert.is(compareWithRecord('10:5:7', '10:6:7', never), 'changed');
  assert.is(compareWithRecord(`10:5:7|sha256:${hashOfA}:10`, '10:6:7', () => hashOfA), 'confirmed');
  assert.is(compareWithRecord(`sha256:${hashOfA}:10`, '10:6:7', () => hashOfA), 'confirmed');
  assert.is(compareWithRecord(`sha256:${hashOfA}:10`, '11:6:7', never), 'changed');
});

test('appeared, vanished, both absent', () => {
  assert.is(compareWithRecord(null, '10:5:7', never), 'changed');
  assert.is(compareWithRecord('10:5:7', undefined, never), 'changed');
  assert.is(compareWithRecord(null, undefined, never), 'same');
});

test('recordSignature: stat only by default, both under --checksum', () => {
  const d = tempDir();
  const f = path.join(d, 'x.bin');
  fs.writeFileSync(f, 'hello');
  assert.is(recordSignature(f, false), statSignature(f));
  assert.is(recordSignature(f, true), `${statSignature(f)}|sha256:${contentHash(f)}:5`);
  // Once read, the hash is known at no cost and recorded without --checksum too.
  assert.is(recordSignature(f, false), `${statSignature(f)}|sha256:${contentHash(f)}:5`);
});

test.run();
