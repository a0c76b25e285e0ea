/**
 * A full disk, at many levels of free space, on a small tmpfs: every run ends with one clear line
 * (exit 1), never a stack trace; no lock file is left behind, empty or not; no record says `done`
 * for an output that is not complete and right; and once space is freed the next run finishes the
 * work and then finds nothing to do. Needs `mount` (root); elsewhere the tests are counted as skipped.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { filesUnder, runCli, testUnless, timed, writeFile } from './rig.js';
import { fakeCommand } from './project.js';

const mounted = new Set<string>();
process.on('exit', () => { for (const d of mounted) spawnSync('umount', ['-l', d]); });

function mountTmpfs(sizeBytes: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ephys-make-full-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0755`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) { fs.rmdirSync(dir); throw new Error(`mount: ${r.stderr || r.error}`); }
  mounted.add(dir);
  return dir;
}

function unmount(dir: string): void {
  if (spawnSync('umount', [dir]).status !== 0) spawnSync('umount', ['-l', dir]);
  mounted.delete(dir);
  fs.rmdirSync(dir);
}

function whyNoMount(): string | undefined {
  try { unmount(mountTmpfs(64 * 1024)); return undefined; } catch (err) { return `disk-full tests need a tmpfs mount (${(err as Error).message.trim()})`; }
}

const it = testUnless(whyNoMount());

function freeBytes(dir: string): number {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}

/** Fill the file system of `dir` until exactly `bytes` (a multiple of its block size) are free. */
function fillUntil(dir: string, bytes: number): void {
  const filler = path.join(dir, 'filler');
  const fd = fs.openSync(filler, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (let free = freeBytes(dir); free > bytes; free = freeBytes(dir)) {
      fs.writeSync(fd, chunk, 0, Math.min(chunk.length, free - bytes));
    }
  } finally {
    fs.closeSync(fd);
  }
  assert.is(freeBytes(dir), bytes, 'free space after filling');
}

const markerBytes = 150 * 1024;
const recordings = ['r1', 'r2'];

/** a -> b -> c, and d reading a; b takes a slot of a machine-wide pool kept on the same drive. */
function pipeline(): string {
  const stage = (name: string, ins: string[], extra = '') => `  ${name}:
    run: command
    command: ${fakeCommand(`{name}/${name}`, [...ins, ...(name === 'c' ? ['{input_json}'] : [])], [`{output}/${name}.out`])}
    inputs: ${JSON.stringify(ins)}
    outputs: ["{output}/${name}.out"]
${extra}`;
  return `version: 1
recordings:
  root: ./data
  match: "**/*.ap.bin"
resources: { io: 1 }
stages:
${stage('a', ['{marker}'])}${stage('b', ['{output}/a.out'], '    resources: { io: 1 }\n')}${stage('c', ['{output}/b.out'])}${stage('d', ['{output}/a.out'])}`;
}

function makeProject(dir: string): void {
  writeFile(dir, 'pipeline.yaml', pipeline());
  for (const r of recordings) writeFile(dir, `data/${r}/probe.ap.bin`, `raw data of ${r}\n`.padEnd(markerBytes, '.'));
}

/** What fake-stage writes: its label, then each input's content. */
function expected(dir: string, rec: string, stage: string): string {
  const r = (f: string) => fs.readFileSync(path.join(dir, 'data', rec, f), 'utf8');
  const label = `${rec}/${stage}\n`;
  switch (stage) {
    case 'a': return label + r('probe.ap.bin');
    case 'b': case 'd': return label + r('a.out');
    case 'c': return label + r('b.out') + r('.ephys-make/c/input.json');
    default: throw new Error(stage);
  }
}

const stackLike = /^\s+at .+:\d+:\d+\)?$|internal error|^Node\.js v\d+|Maximum call stack|RangeError|Uncaught/m;

/** Checks that hold after any run, whether it ran out of space or not. */
function checkTruthful(dir: string, what: string): void {
  const files = filesUnder(dir);
  const locks = files.filter((f) => /(^|\/)lock$|\.lock$|\.takeover$/.test(f));
  assert.equal(locks, [], `${what}: lock files left behind`);
  const partials = files.filter((f) => f.endsWith('.partial'));
  assert.equal(partials, [], `${what}: temporary files left behind`);
  for (const rec of recordings) {
    const stateFile = path.join(dir, 'data', rec, '.ephys-make', 'state.json');
    if (!fs.existsSync(stateFile)) continue;
    const state = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
    for (const [stage, record] of Object.entries<any>(state.jobs)) {
      if (record.status !== 'done') continue;
      const out = path.join(dir, 'data', rec, `${stage}.out`);
      assert.ok(fs.existsSync(out), `${what}: ${rec} ${stage} recorded done without its output`);
      assert.ok(fs.readFileSync(out, 'utf8') === expected(dir, rec, stage), `${what}: ${rec} ${stage} recorded done with a wrong or short output`);
    }
  }
}

// Free space at the start of the run, in bytes: none, a page or a few (locks, records, input
// JSONs), then enough for some outputs but not all, then enough for everything.
const levels = [0, 4, 8, 12, 16, 20, 32, 64, 128, 256, 512, 1024, 1536, 2048].map((k) => k * 1024);

async function atLevel(free: number): Promise<void> {
  const dir = mountTmpfs(6 * 1024 * 1024);
  try {
    makeProject(dir);
    fillUntil(dir, free);
    const env = { EPHYS_MAKE_POOL_DIR: path.join(dir, 'pools') };
    const what = `${free / 1024} KB free`;
    const r = await runCli(['all', '-j', '2', '-k'], { cwd: dir, env });
    const out = r.stdout + r.stderr;
    assert.ok(r.code === 1 || r.code === 0, `${what}: exit ${r.code}${r.signal ? ` (${r.signal})` : ''}\n${out}`);
    assert.not.match(out, stackLike, `${what}:\n${out}`);
    if (r.code === 1) assert.match(out, /ENOSPC: no space left on device/, `${what}:\n${out}`);
    checkTruthful(dir, what);
    // Space again: the next run completes what is missing, and then there is nothing to do.
    fs.rmSync(path.join(dir, 'filler'));
    const again = await runCli(['all', '-j', '2'], { cwd: dir, env });
    assert.is(again.code, 0, `${what}, then space again:\n${again.stdout}${again.stderr}`);
    checkTruthful(dir, `${what}, then space again`);
    for (const rec of recordings) for (const s of ['a', 'b', 'c', 'd']) assert.is(fs.readFileSync(path.join(dir, 'data', rec, `${s}.out`), 'utf8'), expected(dir, rec, s), `${what}: ${rec} ${s}`);
    const n = await runCli(['-n'], { cwd: dir, env });
    assert.match(n.stdout, /^nothing to do: 8 jobs up to date$/m, `${what}: ${n.stdout}${n.stderr}`);
  } finally {
    unmount(dir);
  }
}

it(`a full disk at ${levels.length} levels of free space (0 to 2 MB): one clear line, no stray locks, no false records, and the work finishes once space is freed`, timed(async () => {
  // A few levels at a time: each has its own tmpfs.
  const queue = [...levels];
  const failures: string[] = [];
  await Promise.all(Array.from({ length: 3 }, async () => {
    for (let free = queue.shift(); free !== undefined; free = queue.shift()) {
      await atLevel(free).catch((err) => { failures.push(String(err?.message ?? err)); });
    }
  }));
  assert.equal(failures, []);
}, 600_000));

it('watch with no space for its event log: one warning, no stack overflow', timed(async () => {
  const dir = mountTmpfs(2 * 1024 * 1024);
  try {
    makeProject(dir);
    fillUntil(dir, 0);
    const r = await runCli(['watch', '--once', '-j', '2'], { cwd: dir, env: { EPHYS_MAKE_POOL_DIR: path.join(dir, 'pools') } });
    const out = r.stdout + r.stderr;
    assert.ok(r.code === 1 || r.code === 0, `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}\n${out}`);
    assert.not.match(out, stackLike, out);
    assert.match(out, /cannot write the event log .*watch\.jsonl: ENOSPC: no space left on device/);
    checkTruthful(dir, 'watch');
  } finally {
    unmount(dir);
  }
}, 120_000));

it("space: preflight counts what running jobs declared: with -j 2 the second job waits, then fails its preflight instead of filling the disk", timed(async () => {
  const dir = mountTmpfs(2 * 1024 * 1024);
  try {
    writeFile(dir, 'pipeline.yaml', `version: 1
recordings:
  root: ./data
  match: "**/*.ap.bin"
stages:
  copy:
    run: command
    command: ${fakeCommand('{name}/copy', ['{marker}'], ['{output}/copy.out'], ['--sleep-ms', '300'])}
    inputs: ["{marker}"]
    outputs: ["{output}/copy.out"]
    space: "300KB"
`);
    for (const r of recordings) writeFile(dir, `data/${r}/probe.ap.bin`, ''.padEnd(300 * 1024, r));
    fillUntil(dir, 500 * 1024);
    const r = await runCli(['all', '-j', '2', '-k'], { cwd: dir, env: { EPHYS_MAKE_POOL_DIR: path.join(dir, 'pools') } });
    const out = r.stdout + r.stderr;
    assert.is(r.code, 1, out);
    assert.not.match(out, /ENOSPC|no space left/, out);
    assert.not.match(out, stackLike, out);
    assert.match(out, /^r[12] copy waits for running jobs to end: not enough disk space on the drive of .*: needs 300\.0 KB, 4\d\d\.\d KB free of which running jobs reserved 300\.0 KB$/m, out);
    assert.match(out, /^FAILED r[12] copy: not enough disk space on the drive of .*: needs 300\.0 KB, 1\d\d\.\d KB free$/m, out);
    assert.is(out.match(/^done   r[12] copy /gm)?.length, 1, out);
  } finally {
    unmount(dir);
  }
}, 120_000));

test.run();
