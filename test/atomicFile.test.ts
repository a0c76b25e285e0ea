import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './rig.js';
import { writeFileAtomic, PartialFile } from '../lib/base/atomicFile.js';

test('writeFileAtomic leaves only the final file', () => {
  const d = tempDir();
  const p = path.join(d, 'a', 'state.json');
  writeFileAtomic(p, '{"x":1}');
  writeFileAtomic(p, '{"x":2}');
  assert.is(fs.readFileSync(p, 'utf8'), '{"x":2}');
  assert.equal(fs.readdirSync(path.dirname(p)), ['state.json']);
});

test('an aborted PartialFile leaves nothing under the real name', () => {
  const d = tempDir();
  const p = path.join(d, 'out.dat');
  const f = new PartialFile(p);
  f.write(Buffer.from('half'));
  f.abort();
  assert.equal(fs.readdirSync(d), []);
  const g = new PartialFile(p);
  g.write(Buffer.from('whole'));
  g.commit();
  assert.is(fs.readFileSync(p, 'utf8'), 'whole');
});

test.run();
