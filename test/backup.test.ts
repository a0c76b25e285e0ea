/**
 * The built-in backup stage and `verify-backup`, end to end through the real CLI on real files:
 * copies verified by reading them back from disk, resume after kill -9, refusal of a same-device
 * root, a full destination, a flipped byte, and paths with spaces and quotes.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { runCli, startCli, tempDir, testUnless, timed, waitUntil, writeFile } from './rig.js';
import { hashFromDisk } from '../lib/base/readBack.js';
import { readManifest } from '../lib/formats/backupManifest.js';

const odd = `data with 'quotes' and "double" spaces`;

interface Lab { dir: string; root: string; rec: string; pipeline: string }

/** A lab folder: one recording `<odd>/sess 1/probe'0` and a pipeline backing it up to `roots`. */
function lab(roots: string[], files: Record<string, number | string>, extra: Record<string, unknown> = {}): Lab {
  const dir = tempDir();
  const root = path.join(dir, odd);
  const rec = path.join(root, 'sess 1', "probe'0");
  for (const [name, content] of Object.entries(files)) {
    const p = path.join(rec, name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    if (typeof content === 'string') fs.writeFileSync(p, content);
    else fillFile(p, content);
  }
  const params = { to: roots, from: '{recording}', layout_root: '{root}', ...extra };
  const outputs = roots.map((r) => path.join(r, '{name}', 'backup-manifest.jsonl'));
  const pipeline = writeFile(dir, 'pipeline.yaml', [
    'version: 1',
    `recordings: { root: ${JSON.stringify(root)}, match: "**/*.ap.bin", layout: none }`,
    'stages:',
    '  backup_raw:',
    '    run: builtin',
    '    module: backup',
    '    inputs: ["{marker}"]',
    `    outputs: ${JSON.stringify(outputs)}`,
    `    params: { backup_params: ${JSON.stringify(params)} }`,
    '',
  ].join('\n'));
  return { dir, root, rec, pipeline };
}

/** Real, varied bytes (a cheap generator), so a copy of the wrong range cannot match. */
function fillFile(p: string, bytes: number): void {
  const fd = fs.openSync(p, 'w');
  const chunk = Buffer.alloc(Math.min(bytes, 4 << 20));
  let x = bytes >>> 0 || 1;
  for (let off = 0; off < bytes; off += chunk.length) {
    for (let i = 0; i < chunk.length; i += 4) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; chunk.writeUInt32LE(x >>> 0, i); }
    fs.writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - off), off);
  }
  fs.closeSync(fd);
}

function copyOf(l: Lab, root: string, name: string): string {
  return path.join(root, path.relative(l.root, l.rec), name);
}

function manifestOf(l: Lab, root: string) {
  return readManifest(copyOf(l, root, 'backup-manifest.jsonl'));
}

function partialsUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => { for (const e of fs.readdirSync(d, { withFileTypes: true })) { const p = path.join(d, e.name); if (e.isDirectory()) walk(p); else if (e.name.endsWith('.partial')) out.push(p); } };
  if (fs.existsSync(dir)) walk(dir);
  return out;
}

function outputJson(l: Lab): any {
  return JSON.parse(fs.readFileSync(path.join(l.rec, '.ephys-make', 'backup_raw', 'output.json'), 'utf8'));
}

/** A small tmpfs, or the reason there is none (not root, no mount). */
function mountTmpfs(dir: string, size: string): string | undefined {
  fs.mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  return r.status === 0 ? undefined : `cannot mount a tmpfs (${(r.stderr || r.error?.message || '').trim()}): full-destination tests need root`;
}
function unmount(dir: string): void { spawnSync('umount', [dir]); }

const probeMount = path.join(tempDir(), 'probe');
const noTmpfs = mountTmpfs(probeMount, '1m');
if (!noTmpfs) unmount(probeMount);
const withTmpfs = testUnless(noTmpfs);

test('read-back goes to the disk, not the page cache (bytes counted in /proc/self/io)', timed(async () => {
  const dir = tempDir();
  const file = path.join(dir, 'cached.bin');
  fillFile(file, 48 << 20);
  fs.readFileSync(file); // now in the page cache
  const readBytes = () => Number(/read_bytes:\s*(\d+)/.exec(fs.readFileSync('/proc/self/io', 'utf8'))![1]);
  const before = readBytes();
  const back = await hashFromDisk(file, 'sha256');
  const fromDisk = readBytes() - before;
  assert.ok(back.direct, 'ext4 offers O_DIRECT');
  assert.ok(fromDisk >= 48 << 20, `read ${fromDisk} bytes from the device for a 48 MiB file`);
  const expected = spawnSync('sha256sum', [file], { encoding: 'utf8' }).stdout.split(' ')[0];
  assert.is(back.digest, `sha256:${expected}`);
}));

test('copy and verify with spaces and quotes in every path, a 2 GB sparse file among them; rerun skips; status and verify-backup agree', timed(async () => {
  const dest = path.join(tempDir(), `backup "one" 'b'`);
  fs.mkdirSync(dest);
  const l = lab([dest], { "run'1_g0_t0.imec0.ap.bin": 3 << 20, "run'1_g0_t0.imec0.ap.meta": 'imSampRate=30000\n', 'sub dir/notes "x".txt': 'hello\n' }, { allow_same_device: true });
  const sparse = path.join(l.rec, 'big sparse.bin');
  fs.writeFileSync(sparse, 'head');
  fs.truncateSync(sparse, 2 * 1024 ** 3);
  const fd = fs.openSync(sparse, 'r+'); fs.writeSync(fd, Buffer.from('tail'), 0, 4, 2 * 1024 ** 3 - 4); fs.closeSync(fd);
  const before = new Map(fs.readdirSync(l.rec).map((n) => [n, fs.statSync(path.join(l.rec, n), { bigint: true })]));

  const r = await runCli(['all', '-f', l.pipeline], { cwd: l.dir, timeoutMs: 240_000 });
  assert.is(r.code, 0, r.stdout + r.stderr);
  const m = manifestOf(l, dest);
  assert.equal([...m.entries.keys()].sort(), ['big sparse.bin', "run'1_g0_t0.imec0.ap.bin", "run'1_g0_t0.imec0.ap.meta", 'sub dir/notes "x".txt']);
  assert.is(m.entries.get('big sparse.bin')!.size, 2 * 1024 ** 3);
  for (const name of ['sub dir/notes "x".txt', "run'1_g0_t0.imec0.ap.bin"]) {
    assert.ok(fs.readFileSync(copyOf(l, dest, name)).equals(fs.readFileSync(path.join(l.rec, name))), name);
  }
  const out = outputJson(l);
  assert.is(out.copied, 4);
  assert.is(out.destinations[0].read_back, 'direct');
  // The source is as it was: same inodes, sizes and times.
  for (const [n, st] of before) {
    const now = fs.statSync(path.join(l.rec, n), { bigint: true });
    assert.equal([now.ino, now.size, now.mtimeNs], [st.ino, st.size, st.mtimeNs], n);
  }
  assert.equal(partialsUnder(dest), []);

  const status = await runCli(['status', '-f', l.pipeline], { cwd: l.dir });
  assert.match(status.stdout, /sess 1\/probe'0\s+backed up/);
  assert.match(status.stdout, /^backed up and verified: 1 of 1 recordings \(sess 1\/probe'0\)$/m);

  const v = await runCli(['verify-backup', '-f', l.pipeline], { cwd: l.dir, timeoutMs: 240_000 });
  assert.is(v.code, 0, v.stdout + v.stderr);
  assert.match(v.stdout, /^ok       sess 1\/probe'0 backup_raw: .*: 4 files match their manifest$/m);
  assert.match(v.stdout, /^read back 4 files \(2\.00 GB.*: all match$/m);

  // A forced rerun re-reads nothing it verified before.
  const again = await runCli(['all', '-B', '-f', l.pipeline], { cwd: l.dir });
  assert.is(again.code, 0, again.stdout + again.stderr);
  assert.is(outputJson(l).skipped, 4);
  assert.is(readManifest(copyOf(l, dest, 'backup-manifest.jsonl')).entries.size, 4);
  assert.is(fs.readFileSync(copyOf(l, dest, 'backup-manifest.jsonl'), 'utf8').trim().split('\n').length, 4, 'no line added');
}, 300_000));

test('a flipped byte in the copy is caught; the backup never overwrites it; missing and extra files are reported', timed(async () => {
  const dest = tempDir();
  const l = lab([dest], { 'r_g0_t0.imec0.ap.bin': 5 << 20, 'r_g0_t0.imec0.ap.meta': 'meta\n' }, { allow_same_device: true, hash: 'sha256' });
  assert.is((await runCli(['all', '-f', l.pipeline], { cwd: l.dir })).code, 0);
  const bin = copyOf(l, dest, 'r_g0_t0.imec0.ap.bin');
  const st = fs.statSync(bin);
  const fd = fs.openSync(bin, 'r+');
  const b = Buffer.alloc(1); fs.readSync(fd, b, 0, 1, 1234567); b[0] ^= 0x10; fs.writeSync(fd, b, 0, 1, 1234567); fs.closeSync(fd);
  fs.utimesSync(bin, st.atime, st.mtime); // the flip hides from size and time
  fs.rmSync(copyOf(l, dest, 'r_g0_t0.imec0.ap.meta'));
  writeFile(path.dirname(bin), 'stray.txt', 'not ours');

  const v = await runCli(['verify-backup', '--dir', dest], { cwd: l.dir });
  assert.is(v.code, 1, v.stdout + v.stderr);
  assert.match(v.stdout, new RegExp(`^CHANGED  ${escape(bin)}: now 5\\.00 MB sha256:[0-9a-f]{64}; manifest: 5\\.00 MB sha256:[0-9a-f]{64} \\(verified `, 'm'));
  assert.match(v.stdout, /^MISSING  .*r_g0_t0\.imec0\.ap\.meta \(manifest: 5 B, verified /m);
  assert.match(v.stdout, /^EXTRA    .*stray\.txt: not in any manifest$/m);
  assert.match(v.stdout, /1 missing, 1 changed, 1 extra$/m);

  // Touched since: the backup compares it with the source, says so and leaves it alone.
  const flipped = fs.readFileSync(bin);
  fs.utimesSync(bin, new Date(), new Date());
  const r = await runCli(['all', '-f', l.pipeline, '-B'], { cwd: l.dir });
  assert.is(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /r_g0_t0\.imec0\.ap\.bin exists and differs from .*; it was left as it is, never overwritten/);
  assert.ok(fs.readFileSync(bin).equals(flipped), 'the differing copy is untouched');
  assert.ok(fs.existsSync(copyOf(l, dest, 'r_g0_t0.imec0.ap.meta')), 'the missing file was copied again');
}));

test('kill -9 mid-copy: the rerun keeps finished files (not copied again) and completes the rest', timed(async () => {
  const dest = tempDir();
  const names = ['a_g0_t0.imec0.ap.bin', 'b.lf.bin', 'c.lf.bin', 'd.lf.bin'];
  const l = lab([dest], Object.fromEntries(names.map((n) => [n, 160 << 20])), { allow_same_device: true, hash: 'sha256' });
  const h = startCli(['all', '-f', l.pipeline], { cwd: l.dir });
  const manifest = copyOf(l, dest, 'backup-manifest.jsonl');
  await waitUntil(() => fs.existsSync(manifest) && fs.readFileSync(manifest, 'utf8').includes('\n'), 'a first manifest line', 60_000);
  // Power cut: the ephys-make process and the job's process group, at once.
  const host = childrenOf(h.child.pid!);
  for (const pid of host) { try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ } }
  h.child.kill('SIGKILL');
  await h.done;
  const finished = [...readManifest(manifest).entries.keys()];
  assert.ok(finished.length >= 1 && finished.length < names.length, `killed mid-copy (${finished.length} of ${names.length} verified)`);
  const kept = new Map(finished.map((n) => [n, fs.statSync(copyOf(l, dest, n), { bigint: true })]));
  for (const n of names.filter((x) => !finished.includes(x))) assert.not.ok(fs.existsSync(copyOf(l, dest, n)), `${n} has no final name before it is verified`);

  const r = await runCli(['all', '-f', l.pipeline], { cwd: l.dir });
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /last run interrupted/);
  const log = fs.readFileSync(path.join(l.rec, '.ephys-make', 'backup_raw', 'log.txt'), 'utf8');
  for (const [n, st] of kept) {
    assert.match(log, new RegExp(`^skipped  ${escape(n)}: manifest matches`, 'm'));
    const now = fs.statSync(copyOf(l, dest, n), { bigint: true });
    assert.equal([now.ino, now.mtimeNs], [st.ino, st.mtimeNs], `${n} was not copied again`);
  }
  const m = readManifest(manifest);
  assert.equal([...m.entries.keys()].sort(), names);
  assert.equal(partialsUnder(dest), []);
  const v = await runCli(['verify-backup', '--dir', dest], { cwd: l.dir });
  assert.is(v.code, 0, v.stdout);
}, 240_000));

test('a backup root on the same device as the recording is refused unless allowed', timed(async () => {
  const dest = tempDir();
  const l = lab([dest], { 'r.ap.bin': 1000 });
  const r = await runCli(['all', '-f', l.pipeline], { cwd: l.dir });
  assert.is(r.code, 1);
  assert.match(r.stdout + r.stderr, new RegExp(`backup root ${escape(dest)} is on the same device as .*: a copy on the same disk is lost with it\\. Give a root on another drive \\(is it mounted\\?\\), or set backup_params\\.allow_same_device: true`));
  assert.equal(fs.readdirSync(dest), []);
  const missing = lab([path.join(dest, 'not mounted')], { 'r.ap.bin': 1000 });
  const m = await runCli(['all', '-f', missing.pipeline], { cwd: missing.dir });
  assert.is(m.code, 1);
  assert.match(m.stdout + m.stderr, /backup root .*not mounted does not exist \(is the drive mounted\?\); ephys-make does not create backup roots/);
}));

withTmpfs('a full destination fails the job and leaves no file that claims to be complete', timed(async () => {
  const mnt = path.join(tempDir(), 'small disk');
  assert.is(mountTmpfs(mnt, '8m'), undefined);
  try {
    // Too big for the drive: refused before anything is written.
    const big = lab([mnt], { 'r.ap.bin': 12 << 20 });
    const r = await runCli(['all', '-f', big.pipeline], { cwd: big.dir });
    assert.is(r.code, 1);
    assert.match(r.stdout + r.stderr, /backup root .*small disk is too full: this backup needs 12\.0 MB there, .* free\. Nothing was copied/);
    assert.equal(fs.readdirSync(mnt), []);

    // Fits each root alone, not both on one drive: the disk fills mid-write.
    fs.mkdirSync(path.join(mnt, 'one')); fs.mkdirSync(path.join(mnt, 'two'));
    const both = lab([path.join(mnt, 'one'), path.join(mnt, 'two')], { 'first.ap.meta': 'small\n', 'r.ap.bin': 5 << 20 });
    const f = await runCli(['all', '-f', both.pipeline], { cwd: both.dir });
    assert.is(f.code, 1, f.stdout + f.stderr);
    assert.match(f.stdout + f.stderr, /is full \(ENOSPC\) while copying r\.ap\.bin; its partial copy was removed and no manifest names it/);
    for (const root of ['one', 'two']) {
      const m = manifestOf(both, path.join(mnt, root));
      assert.equal([...m.entries.keys()], ['first.ap.meta'], 'the file verified before the disk filled stays listed');
      assert.not.ok(fs.existsSync(copyOf(both, path.join(mnt, root), 'r.ap.bin')));
    }
    assert.equal(partialsUnder(mnt), []);
    const v = await runCli(['verify-backup', '--dir', mnt], { cwd: both.dir });
    assert.is(v.code, 0, v.stdout);
  } finally {
    unmount(mnt);
  }
}));

function escape(s: string): string { return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'); }

/** Child processes of `pid`, from /proc. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(e));
    } catch { /* exited */ }
  }
  return out;
}

test.run();
