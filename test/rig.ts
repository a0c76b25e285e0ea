/** The test rig: temp folders, real files, the real `bin/ephys-make` in a child process. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import fg from 'fast-glob';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');
export const binPath = path.join(repoRoot, 'bin', 'ephys-make.js');
export const fixturesDir = path.join(repoRoot, 'test', 'fixtures');
export const fakeStage = path.join(fixturesDir, 'fake-stage.mjs');

const made: string[] = [];
process.on('exit', () => {
  if (process.env.KEEP_TEMP) return;
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

export function tempDir(prefix = 'ephys-make-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(d);
  return d;
}

export function writeFile(dir: string, rel: string, content: string | Uint8Array): string {
  const p = path.join(dir, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, content);
  return p;
}

/** Set a file's mtime explicitly (seconds since epoch) instead of sleeping. */
export function setMtime(p: string, seconds: number): void {
  fs.utimesSync(p, seconds, seconds);
}

export interface CliResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

export interface CliOptions { cwd?: string; env?: Record<string, string | undefined>; timeoutMs?: number; user?: LabUser }

function cliEnv(extra?: Record<string, string | undefined>): NodeJS.ProcessEnv {
  return { ...process.env, NO_COLOR: '1', EPHYS_MAKE_POOL_DIR: process.env.EPHYS_MAKE_POOL_DIR ?? poolDir(), ...extra };
}

let sharedPoolDir: string | undefined;
/** Machine-wide pool slots live here during tests, so parallel test files do not share a GPU pool. */
export function poolDir(): string {
  sharedPoolDir ??= tempDir('ephys-make-pools-');
  return sharedPoolDir;
}

export function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  const h = startCli(args, opts);
  return h.done;
}

export interface CliHandle {
  child: ChildProcess;
  done: Promise<CliResult>;
  output(): string;
  waitForOutput(re: RegExp, timeoutMs?: number): Promise<string>;
}

export function startCli(args: string[], opts: CliOptions = {}): CliHandle {
  const child = spawn(process.execPath, [binPath, ...args], {
    cwd: opts.cwd ?? repoRoot,
    env: cliEnv(opts.env),
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.user ? { uid: opts.user.uid, gid: opts.user.gid } : {}),
  });
  let stdout = '', stderr = '';
  const waiters: Array<() => void> = [];
  const poke = () => { for (const w of waiters.splice(0)) w(); };
  child.stdout!.on('data', (d) => { stdout += d; poke(); });
  child.stderr!.on('data', (d) => { stderr += d; poke(); });
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const done = new Promise<CliResult>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => { clearTimeout(timer); poke(); resolve({ code, signal, stdout, stderr }); });
  });
  const output = () => stdout + stderr;
  return {
    child, done, output,
    async waitForOutput(re, ms = 60_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const m = output().match(re);
        if (m) return m[0];
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`process ended before output matched ${re}:\n${output()}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${re}:\n${output()}`);
        await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 100); });
      }
    },
  };
}

export interface LabUser { name: string; uid: number; gid: number }

/**
 * Real users of the machine for tests of what two people on one workstation share, made with
 * useradd when missing. Needs root (CI runs as root); otherwise the reason it cannot, for testUnless.
 */
export function labUsers(names: string[]): LabUser[] | string {
  if (process.getuid?.() !== 0) return 'two real users need root to create them (useradd)';
  const out: LabUser[] = [];
  for (const name of names) {
    let id = spawnSync('id', ['-u', name], { encoding: 'utf8' });
    if (id.status !== 0) {
      const made = spawnSync('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', name], { encoding: 'utf8' });
      if (made.status !== 0) return `useradd ${name} was refused: ${(made.stderr || made.error?.message || '').trim()}`;
      id = spawnSync('id', ['-u', name], { encoding: 'utf8' });
    }
    const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
    out.push({ name, uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()) });
  }
  return checkoutUnreadableBy(out[0].uid, out[0].gid, out[0].name) ?? out;
}

/**
 * Why another user cannot run this checkout (one inside a private folder: mktemp -d makes mode
 * 700), or undefined: tests that run as that user say so instead of waiting for a command that
 * never starts.
 */
export function checkoutUnreadableBy(uid: number, gid: number, who = `uid ${uid}`): string | undefined {
  const entry = path.join(repoRoot, 'bin', 'ephys-make.js');
  if (spawnSync('test', ['-r', entry], { uid, gid }).status === 0) return undefined;
  return `${who} cannot read ${entry} (a folder above the checkout is private): clone into a folder other users can read`;
}

/** Every file under `dir` (hidden ones too), relative to it with '/' separators, sorted. */
export function filesUnder(dir: string): string[] {
  return fg.sync('**', { cwd: dir, dot: true, onlyFiles: true, followSymbolicLinks: false }).sort();
}

/** Give a folder tree to a user (the tests run as root and make their files first). */
export function chownTree(dir: string, user: LabUser): void {
  fs.lchownSync(dir, user.uid, user.gid);
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) chownTree(p, user); else fs.lchownSync(p, user.uid, user.gid);
  }
}

/** Is the process running (a zombie, never collected by a container's init, is not)? */
export function isRunning(pid: number): boolean {
  try { process.kill(pid, 0); } catch { return false; }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]);
  } catch {
    return false;
  }
}

/** Wait until `check` holds, polling the file system; fails the test after `timeoutMs`. */
export async function waitUntil(check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** uvu has no per-test timeout: wrap each test body. */
export function timed<T>(fn: () => Promise<T> | T, ms = 120_000): () => Promise<T> {
  return () => new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`test timed out after ${ms} ms`)), ms);
    Promise.resolve().then(fn).then((v) => { clearTimeout(timer); resolve(v); }, (e) => { clearTimeout(timer); reject(e); });
  });
}

/** Lines a fake stage appended to its log: [event, label, pid, ms, gpu, cuda]. */
export function readStageLog(p: string): Array<{ event: string; label: string; pid: number; ms: number; gpu: string; cuda: string }> {
  if (!fs.existsSync(p)) return [];
  return fs.readFileSync(p, 'utf8').trim().split('\n').filter(Boolean).map((l) => {
    const [event, label, pid, ms, gpu, cuda] = l.split(' ');
    return { event, label: decodeURIComponent(label), pid: Number(pid), ms: Number(ms), gpu, cuda };
  });
}

/**
 * `test` when `reason` is undefined, else uvu's `test.skip` with the reason printed: the runner
 * counts the skip in its totals line and lists the reason, so a missing tool is never a silent pass.
 */
export function testUnless(reason: string | undefined): (name: string, fn: () => unknown) => void {
  if (reason === undefined) return (name, fn) => test(name, fn as any);
  process.stdout.write(`skipped: ${reason}\n`);
  return (name, fn) => test.skip(name, fn as any);
}
