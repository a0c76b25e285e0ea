/**
 * Start a job's process: an argument vector (never a shell), leading its own process group so the
 * whole tree can be stopped, output appended to log.txt, progress read from fd 3.
 */
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { killGroup, processStartOf } from '../../base/processInfo.js';

export interface Progress { done: number; total: number; unit: 'bytes' | 'items' }

export interface RunningProcess {
  pid: number;
  procStart?: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: string }>;
  /** SIGTERM to the group, SIGKILL after `graceMs` if it is still there. */
  stop(graceMs?: number): void;
}

export function spawnJob(argv: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; logPath: string; onProgress?: (p: Progress) => void }): RunningProcess {
  const logFd = fs.openSync(opts.logPath, 'a');
  const child = spawn(argv[0], argv.slice(1), {
    cwd: opts.cwd,
    env: opts.env,
    detached: true,
    stdio: ['ignore', logFd, logFd, 'pipe'],
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
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: string }>((resolve) => {
    child.on('error', (err: any) => resolve({ code: null, signal: null, error: err.code === 'ENOENT' ? `cannot start '${argv[0]}': not found` : `cannot start '${argv[0]}': ${err.message}` }));
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  const pid = child.pid ?? -1;
  let killTimer: NodeJS.Timeout | undefined;
  exited.then(() => { if (killTimer) clearTimeout(killTimer); });
  return {
    pid,
    procStart: pid > 0 ? processStartOf(pid) : undefined,
    exited,
    stop(graceMs = 5000) {
      if (pid <= 0) return;
      killGroup(pid, 'SIGTERM');
      killTimer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
      killTimer.unref();
    },
  };
}
