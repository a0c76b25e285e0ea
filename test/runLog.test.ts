/** runs.jsonl: one line per run, appended; a crash mid-append must not cost the next run its line. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir, timed } from './rig.js';
import { makeProject } from './project.js';
import { appendRun, readRuns, type RunLine } from '../lib/engine/runLog.js';

const line = (stage: string): RunLine => ({ stage, reason: 'test', start: 's', end: 'e', status: 'done', host: 'h', pid: 1, versions: {} });

test('a torn last line (kill -9 mid-append) does not swallow the next line appended', () => {
  const d = tempDir();
  appendRun(d, line('a'));
  // What a writer killed half-way through its write leaves: part of a line, no newline.
  fs.appendFileSync(path.join(d, 'runs.jsonl'), '{"stage":"b","reas');
  appendRun(d, line('c'));
  appendRun(d, line('d'));
  assert.equal(readRuns(d).map((r) => r.stage), ['a', 'c', 'd']);
});

test('end to end: the run after a torn line is in the provenance', timed(async () => {
  const p = makeProject({ recordings: ['r1'] });
  assert.is((await p.run(['all'])).code, 0);
  const runs = path.join(p.rec('r1'), '.ephys-make', 'runs.jsonl');
  const text = fs.readFileSync(runs, 'utf8');
  fs.writeFileSync(runs, text.slice(0, text.length - 20));
  const r = await p.run(['all', '--force', 'd']);
  assert.is(r.code, 0, r.stdout + r.stderr);
  const stages = readRuns(path.dirname(runs)).map((x) => `${x.stage} ${x.status}`);
  assert.equal(stages, ['a done', 'b done', 'c done', 'd done']);
}));

test.run();
