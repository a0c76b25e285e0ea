/**
 * What a run writes when its output is a log, not a terminal: a progress line per running job at
 * an interval, and, with --no-wait, which recordings were skipped and who held them.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { timed, waitUntil, writeFile } from './rig.js';
import { makeProject, fakeCommand } from './project.js';

/** A stage that reports progress on fd 3 as the runner reads it, then waits for a file. */
const reporter = `import fs from 'node:fs';
const [out, total, go] = process.argv.slice(2);
const say = (done) => fs.writeSync(3, JSON.stringify({ done, total: Number(total), unit: 'bytes' }) + '\\n');
say(0);
await new Promise((r) => setTimeout(r, 300));
say(Number(total) / 4);
await new Promise((r) => setTimeout(r, 300));
say(Number(total) / 2);
while (!fs.existsSync(go)) await new Promise((r) => setTimeout(r, 20));
fs.writeFileSync(out, 'done');
`;

/** A stage that says nothing of its progress. */
const quiet = `import fs from 'node:fs';
const [out, go] = process.argv.slice(2);
while (!fs.existsSync(go)) await new Promise((r) => setTimeout(r, 20));
fs.writeFileSync(out, 'done');
`;

test('not on a terminal: each running job gets a progress line at the interval, with percent, size, time run and time left', timed(async () => {
  const stages = `
  copy:
    run: command
    command: ["node", "{root}/../reporter.mjs", "{output}/copy.out", "3000000000", "{root}/../go"]
    inputs: ["{marker}"]
    outputs: ["{output}/copy.out"]
  quiet:
    run: command
    command: ["node", "{root}/../quiet.mjs", "{output}/quiet.out", "{root}/../go"]
    inputs: ["{marker}"]
    outputs: ["{output}/quiet.out"]
`;
  const p = makeProject({ recordings: ['r1'], stages });
  writeFile(p.dir, 'reporter.mjs', reporter);
  writeFile(p.dir, 'quiet.mjs', quiet);
  const h = p.start(['all', '-j', '2'], { env: { EPHYS_MAKE_PROGRESS_SECONDS: '0.4' } });
  const line = await h.waitForOutput(/^running r1 copy: 50% of 2\.79 GB, \d+:\d\d elapsed, about \d+:\d\d left$/m);
  await h.waitForOutput(/^running r1 quiet: \d+:\d\d elapsed$/m);
  fs.writeFileSync(path.join(p.dir, 'go'), '');
  const r = await h.done;
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.ok(line);
  // Lines come in order: after the job's start, none after its end.
  const lines = r.stdout.split('\n');
  const started = lines.findIndex((l) => l.startsWith('start  r1 copy'));
  const firstProgress = lines.findIndex((l) => l.startsWith('running r1 copy'));
  const done = lines.findIndex((l) => l.startsWith('done   r1 copy'));
  assert.ok(started < firstProgress && firstProgress < done, r.stdout);
  assert.not.ok(lines.slice(done).some((l) => l.startsWith('running r1 copy')), r.stdout);
}));

test('--no-wait: the recordings skipped because another ephys-make held them are listed at the end, with the holder', timed(async () => {
  const stages = `
  a:
    run: command
    command: ${fakeCommand('{name}/a', ['{marker}'], ['{output}/a.out'], ['--wait-for', '{root}/../go-{name}'])}
    inputs: ["{marker}"]
    outputs: ["{output}/a.out"]
`;
  const p = makeProject({ recordings: ['r1', 'r2', 'r3'], stages });
  const first = p.start(['a', '--dir', 'data/r2']);
  await waitUntil(() => p.starts() >= 1, 'the first run to hold r2');
  writeFile(p.dir, 'go-r1', '');
  writeFile(p.dir, 'go-r3', '');
  const second = await p.run(['all', '--no-wait']);
  fs.writeFileSync(path.join(p.dir, 'go-r2'), '');
  const r1 = await first.done;
  assert.is(r1.code, 0, r1.stdout + r1.stderr);
  assert.is(second.code, 0, second.stdout + second.stderr);
  assert.match(second.stdout, /^locked r2: held by pid \d+ on \S+ since \S+ \(ephys-make a --dir data\/r2\); skipping it$/m);
  assert.match(second.stdout, /^not run: 1 recording held by another ephys-make \(--no-wait skips instead of waiting\):\n {2}r2: held by pid \d+ on \S+ since \S+ \(ephys-make a --dir data\/r2\)\n$/m);
}));

test.run();
