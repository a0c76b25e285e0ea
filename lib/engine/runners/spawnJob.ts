/**
 * Start a job's process: an argument vector (never a shell string), leading its own process group
 * so the whole tree can be stopped, output appended to log.txt, progress read from fd 3.
 *
 * The job does not start at once. What is spawned first is a launcher that waits for a go-ahead
 * on a pipe (fd 4) and only then execs the job, keeping its pid and process group:
 *
 *   spawn launcher (pid P, group P) -> caller records P durably (record, marker, pool slots)
 *     -> go() -> launcher execs the job as P
 *
 * An ephys-make killed before go() closes the pipe with its death; the launcher reads end of file
 * and exits without running anything. So no job ever runs that a record does not name, and the
 * next taker of the recording always finds (and stops) an orphan. The launcher is `/bin/sh` with
 * a fixed script; the job's words are passed as its positional parameters ("$@"), never parsed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import { killGroup, processStartOf } from '../../base/processInfo.js';

export interface Progress { done: number; total: number; unit: 'bytes' | 'items' }

export interface RunningProcess {
  pid: number;
  procStart?: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: string }>;
  /** Let the job start (the launcher execs it). Call once its pid is recorded. */
  go(): void;
  /** SIGTERM to the group, SIGKILL after `graceMs` if it is still there. */
  stop(graceMs?: number): void;
}

/** Exit status of a launcher that got no go-ahead (its parent died first). */
export const launcherAbandoned = 125;
const launcherScript = `IFS= read -r go <&4 && [ "$go" = go ] || exit ${launcherAbandoned}; exec 4<&-; exec "$@"`;

/** Where a program would be found, as execvp would look; undefined when it would not be. */
export function findProgram(name: string, env: NodeJS.ProcessEnv, cwd: string): string | undefined {
  const isRunnable = (p: string) => { try { fs.accessSync(p, fs.constants.X_OK); return fs.statSync(p).isFile(); } catch { return false; } };
  if (name.includes('/')) { const p = path.resolve(cwd, name); return isRunnable(p) ? p : undefined; }
  for (const dir of (env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':')) {
    const p = path.join(dir || '.', name);
    if (isRunnable(path.resolve(cwd, p))) return p;
  }
  return undefined;
}

export function spawnJob(argv: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; logPath: string; onProgress?: (p: Progress) => void }): RunningProcess {
  // The launcher's exec would only say "not found" in the log: say it the way a spawn error would.
  if (!argv.length || !findProgram(argv[0], opts.env, opts.cwd)) {
    const error = `cannot start '${argv[0] ?? ''}': not found`;
    return { pid: -1, exited: Promise.resolve({ code: null, signal: null, error }), go() {}, stop() {} };
  }
  const logFd = fs.openSync(opts.logPath, 'a');
  const child = spawn('/bin/sh', ['-c', launcherScript, 'ephys-make-job', ...argv], {
    cwd: opts.cwd,
    env: opts.env,
    detached: true,
    stdio: ['ignore', logFd, logFd, 'pipe', 'pipe'],
  });
  fs.closeSync(logFd);
  let buffered = '';
  const progressPipe = child.stdio[3] as NodeJS.ReadableStream | null;
  progressPipe?.on('data', (d: Buffer) => {
    buffered += d.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try { opts.onProgress?.(JSON.parse(line)); } catch { /* not a progress line */ }
    }
  });
  progressPipe?.on('error', () => {});
  const goPipe = child.stdio[4] as Writable | null;
  goPipe?.on('error', () => { /* the launcher is gone: its exit says why */ });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: string }>((resolve) => {
    child.on('error', (err: any) => resolve({ code: null, signal: null, error: `cannot start '${argv[0]}': ${err.message}` }));
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  const pid = child.pid ?? -1;
  let killTimer: NodeJS.Timeout | undefined;
  exited.then(() => { if (killTimer) clearTimeout(killTimer); });
  return {
    pid,
    procStart: pid > 0 ? processStartOf(pid) : undefined,
    exited,
    go() { goPipe?.end('go\n'); },
    stop(graceMs = 5000) {
      if (pid <= 0) return;
      goPipe?.destroy();
      killGroup(pid, 'SIGTERM');
      killTimer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
      killTimer.unref();
    },
  };
}
