/**
 * The reliability promise, checked by injecting the faults (see test/killTrials.ts for the lab):
 *   - kill -9 at random moments, a power cut, a kill exactly in the spawn window, damaged records
 *     after a kill: the run after it never accepts a wrong or truncated output, leaves no process
 *     and no `*.partial` behind, and then has nothing left to do;
 *   - four ephys-make at once on one root: every job exactly once, outputs as a single run makes.
 * Elsewhere, one fault at a time: records.test.ts (each kind of damaged state.json, the newer
 * version), spawnJob.test.ts (the spawn window), pool.test.ts (kill -9 of a gpu slot's holder
 * whose job runs on), crash.test.ts (orphans, SIGINT). bench/reliability.ts runs 200+ trials.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { readStageLog, runCli, tempDir, timed } from './rig.js';
import { describeTrial, prepareLab, processesOf, rngOf, runTrial, type Lab } from './killTrials.js';

const trials = Number(process.env.RELIABILITY_TRIALS ?? 20);
const seed = Number(process.env.RELIABILITY_SEED ?? Date.now() % 1_000_000);
let lab: Lab;

test.before(async () => { lab = await prepareLab(); });

test(`${trials} random kill -9 trials: no wrong output accepted, no orphan, nothing left to do (seed ${seed})`, timed(async () => {
  const rand = rngOf(seed);
  const results = [];
  for (let i = 1; i <= trials; i++) results.push(await runTrial(lab, i, rand));
  const wrong = results.reduce((n, r) => n + r.wrong.length, 0);
  const orphans = results.reduce((n, r) => n + r.orphans.length, 0);
  const kinds = [...new Set(results.map((r) => r.fault))].sort().join(', ');
  process.stdout.write(`${trials} trials (${kinds}), ${wrong} wrong outputs accepted, ${orphans} orphans left (seed ${seed})\n`);
  const bad = results.filter((r) => r.wrong.length || r.orphans.length || r.partials.length || r.problems.length);
  assert.is(bad.length, 0, bad.map(describeTrial).join('\n'));
}, 600_000));

test('four ephys-make at once on one root: every job exactly once, outputs as one run makes them', timed(async () => {
  const dir = tempDir('ephys-make-four-');
  fs.cpSync(lab.template, dir, { recursive: true });
  const runs = await Promise.all([1, 2, 3, 4].map(() => runCli(['all', '-j', '2'], { cwd: dir })));
  for (const r of runs) assert.is(r.code, 0, r.stdout + r.stderr);
  const calls = readStageLog(path.join(dir, 'calls.log')).filter((l) => l.event === 'start');
  const labels = calls.map((l) => l.label).sort();
  assert.equal(labels, [...new Set(labels)], 'each command job started once');
  assert.is(labels.length, lab.recordings.length * 2);
  for (const r of lab.recordings) {
    const runsLog = fs.readFileSync(path.join(dir, r, 'out', '.ephys-make', 'runs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(runsLog.map((x) => `${x.stage} ${x.status}`).sort(), ['copy done', 'median_subtraction done', 'summary done']);
  }
  for (const [rel, bytes] of lab.reference) assert.ok(fs.readFileSync(path.join(dir, rel)).equals(bytes), rel);
  assert.equal(processesOf(dir), []);
}));

test.run();
