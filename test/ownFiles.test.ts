/** A recording's own files, as the guard before writing or removing a path sees them. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OwnFiles } from '../lib/engine/ownFiles.js';

const rec = { name: 'r1', dir: '/lab/data/r1', root: '/lab/data', marker: '/lab/data/r1/p.imec0.ap.bin', output: '/lab/data/r1' };

test('the marker, files matching the pattern, acquisition files and inputs no stage makes are the recording\'s', () => {
  const own = new OwnFiles(rec, '**/*.ap.bin', ['**/old/**']);
  own.add('/lab/data/r1/notes.txt', "an input no stage makes (stage 'a' reads it)");
  const cases: Array<[string, string | undefined]> = [
    ['/lab/data/r1/p.imec0.ap.bin', 'its marker'],
    ['/lab/data/r1/sub/../p.imec0.ap.bin', 'its marker'],
    ['/lab/data/r1/copy.ap.bin', "it matches recordings.match '**/*.ap.bin', so it is a recording's marker"],
    ['/lab/data/r2/q.ap.bin', "it matches recordings.match '**/*.ap.bin', so it is a recording's marker"],
    ['/lab/data/r1/p.imec0.ap.meta', 'a SpikeGLX .meta file'],
    ['/lab/data/r1/p.imec0.lf.bin', 'a SpikeGLX binary'],
    ['/lab/data/r1/structure.oebin', "Open Ephys's structure.oebin"],
    ['/lab/data/r1/ephys-make.yaml', "the recording's own settings"],
    ['/lab/data/r1/notes.txt', "an input no stage makes (stage 'a' reads it)"],
    // Outputs, the engine's own files, excluded folders and other drives are not.
    ['/lab/data/r1/sorted/spike_times.npy', undefined],
    ['/lab/data/r1/.ephys-make/a/x.ap.bin', undefined],
    ['/lab/data/old/x.ap.bin', undefined],
    ['/scratch/r1/x.ap.meta', undefined],
  ];
  for (const [file, why] of cases) assert.is(own.reasonFor(file), why, file);
  assert.is(own.holdsOwnFile('/lab/data/r1'), "/lab/data/r1/p.imec0.ap.bin (its marker)");
  assert.is(own.holdsOwnFile('/lab/data/r1/.ephys-make/a'), undefined);
});

test('a pattern is matched on the whole path, not only the file name', () => {
  const rec2 = { ...rec, dir: '/lab/data/raw/m1/r1', marker: '/lab/data/raw/m1/r1/probe_0.bin', output: '/lab/out/r1' };
  const marker = "it matches recordings.match 'raw/**/probe_*.bin', so it is a recording's marker";
  const cases: Array<[string, string | undefined]> = [
    ['/lab/data/raw/m2/r9/probe_3.bin', marker],
    ['/lab/data/raw/probe_3.bin', marker],
    ['/lab/data/other/probe_3.bin', undefined],
    ['/lab/out/r1/probe_3.bin', undefined],
    ['/lab/data/raw/m2/r9/probe_3.bin.bak', undefined],
  ];
  const own = new OwnFiles(rec2, 'raw/**/probe_*.bin', []);
  for (const [file, why] of cases) assert.is(own.reasonFor(file), why, file);
  // A last segment with braces is left to the whole pattern.
  const braces = new OwnFiles(rec2, '**/*.{ap,lf}.bin', []);
  assert.ok(braces.reasonFor('/lab/data/x/y.lf.bin'));
  assert.is(braces.reasonFor('/lab/data/x/y.ap.bin.out'), undefined);
});

test.run();
