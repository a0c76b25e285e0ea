/**
 * bench/reliability: the kill -9 trials of test/reliability.test.ts, hundreds of them
 * (RELIABILITY_TRIALS, default 200; RELIABILITY_SEED to replay). Prints
 * `N trials, 0 wrong outputs accepted` with the orphans and leftovers found, each kind of fault's
 * count, and the mean trial time against the clean run measured first (the baseline).
 * Exits 1 if any trial went wrong, listing them.
 */
import { describeTrial, prepareLab, rngOf, runTrial, type TrialResult } from '../test/killTrials.js';

const trials = Number(process.env.RELIABILITY_TRIALS ?? 200);
const seed = Number(process.env.RELIABILITY_SEED ?? Date.now() % 1_000_000);

const lab = await prepareLab();
console.log(`lab: ${lab.recordings.length} synthetic recordings, ${lab.jobs} jobs; clean run ${(lab.cleanMs / 1000).toFixed(1)} s; seed ${seed}`);
const rand = rngOf(seed);
const results: TrialResult[] = [];
const started = Date.now();
for (let i = 1; i <= trials; i++) {
  const r = await runTrial(lab, i, rand);
  results.push(r);
  if (r.wrong.length || r.orphans.length || r.partials.length || r.problems.length) console.log(describeTrial(r));
  if (i % 25 === 0) console.log(`  ${i} trials, ${((Date.now() - started) / 1000).toFixed(0)} s`);
}
const sum = (f: (r: TrialResult) => number) => results.reduce((n, r) => n + f(r), 0);
const kinds = new Map<string, number>();
for (const r of results) kinds.set(r.fault, (kinds.get(r.fault) ?? 0) + 1);
const meanMs = sum((r) => r.ms) / results.length;
console.log(`faults: ${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')}`);
console.log(`trial (kill, rerun, checks): ${(meanMs / 1000).toFixed(1)} s on average, ${(meanMs / lab.cleanMs).toFixed(1)}x the clean run`);
console.log(`${trials} trials, ${sum((r) => r.wrong.length)} wrong outputs accepted, ${sum((r) => r.orphans.length)} orphans, ${sum((r) => r.partials.length)} partials left, ${results.filter((r) => r.problems.length).length} other problems`);
process.exitCode = results.some((r) => r.wrong.length || r.orphans.length || r.partials.length || r.problems.length) ? 1 : 0;
