/** Folder listings reused where a folder has not changed: discovery finds exactly what a fresh walk finds. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir, writeFile } from './rig.js';
import { discoverRecordings, type DiscoverySpec } from '../lib/engine/recordings.js';
import { ListingCache } from '../lib/engine/listingCache.js';

const spec = (dir: string): DiscoverySpec => ({
  file: path.join(dir, 'pipeline.yaml'), dir,
  recordings: { root: path.join(dir, 'data'), match: '**/*.ap.bin', exclude: ['**/skip/**'], output: '{recording}', layout: 'auto', settleSeconds: 30 },
});
const names = (dir: string, listings?: ListingCache) => {
  const r = discoverRecordings(spec(dir), { cwd: dir, listings });
  if (!r.ok) throw new Error(r.diagnostics[0].message);
  return r.value.map((x) => x.name);
};

test('listings of unchanged folders are reused; an added, removed or moved recording and a new link are still seen', async () => {
  const dir = tempDir();
  for (const r of ['m1/s1', 'm1/s2', 'm2/s3', 'm2/skip/s9']) writeFile(dir, `data/${r}/p.ap.bin`, 'x');
  writeFile(dir, 'elsewhere/s7/p.ap.bin', 'x');
  await new Promise((r) => setTimeout(r, 2100));
  const first = new ListingCache();
  assert.equal(names(dir, first), ['m1/s1', 'm1/s2', 'm2/s3']);
  const root = path.join(dir, 'data');
  assert.ok(first.used[root] && first.used[path.join(root, 'm1')], 'folders over two seconds old are kept');

  writeFile(dir, 'data/m1/s4/p.ap.bin', 'x');
  fs.rmSync(path.join(dir, 'data/m2/s3'), { recursive: true });
  fs.renameSync(path.join(dir, 'data/m1/s2'), path.join(dir, 'data/m2/s2'));
  fs.symlinkSync(path.join(dir, 'elsewhere'), path.join(dir, 'data/m1/linked'));
  const second = new ListingCache(first.used);
  const seen = names(dir, second);
  assert.equal(seen, names(dir), 'the same as a walk without listings');
  assert.equal(seen, ['m1/linked/s7', 'm1/s1', 'm1/s4', 'm2/s2']);
  assert.is(second.used[root], first.used[root], 'the root did not change: its listing was reused');
  assert.is(second.used[path.join(root, 'm1')], undefined, 'm1 changed just now: listed again, not kept');
});

test.run();
