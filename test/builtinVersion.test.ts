/** A built-in's recorded version is the one it declares, for every built-in stage. */
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { repoRoot, timed } from './rig.js';
import { loadBuiltin } from '../lib/builtin/host.js';
import { builtinVersion } from '../lib/engine/runners/builtinVersion.js';

const stagesWithBuiltin = fs.readdirSync(path.join(repoRoot, 'stages')).filter((d) => fs.existsSync(path.join(repoRoot, 'stages', d, 'index.ts')));

test('every built-in stage declares a version and planning reads that same version', timed(async () => {
  assert.ok(stagesWithBuiltin.length >= 7, stagesWithBuiltin.join(','));
  for (const name of stagesWithBuiltin) {
    const stage = await loadBuiltin(name);
    assert.type(stage?.version, 'string', name);
    assert.is(builtinVersion(name), stage!.version, name);
  }
}));

test('a stage with no built-in has no version to record', () => {
  assert.is(builtinVersion('kilosort_helper'), 'missing');
});

test.run();
