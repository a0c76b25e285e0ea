/**
 * What a killed run leaves beside its outputs: `*.partial` files (built-in stages and the engine's
 * copies write `<name>.<pid>.<n>.partial` and rename it into place when complete) and the job's
 * running marker. Both say an output may be half-written; the partials are also removed, under
 * the recording's lock, by whoever takes the recording next. Nothing else is ever removed.
 */
import fs from 'node:fs';
import path from 'node:path';
import fg from 'fast-glob';
import type { Job } from './job.js';
import { markerPath, readRunningMarker, writeRunningMarker } from './runningMarker.js';
import { hostName, isAlive } from '../base/processInfo.js';

/** Exactly the names partialPath() makes: `<target>.<pid>.<counter>.partial`. */
const partialName = /^(.+)\.(\d+)\.(\d+)\.partial$/;

/** Folders where a job's partials can be: those of its outputs, the copies it makes, and its own. */
function foldersOf(job: Job): string[] {
  const dirs = new Set<string>([job.jobDir, job.stateDir]);
  for (const o of job.outputs) dirs.add(path.dirname(o));
  return [...dirs];
}

function partialsIn(dir: string): string[] {
  let names: string[];
  try { names = fs.readdirSync(dir); } catch { return []; }
  return names.filter((n) => partialName.test(n)).map((n) => path.join(dir, n));
}

/** The evidence that a run of this job was killed part-way, or undefined. Read only for jobs without a record. */
export function findLeftover(job: Job): { pid?: number; host?: string; what: string } | undefined {
  const m = readRunningMarker(job.jobDir);
  if (m) return { pid: m.pid, host: m.host, what: `its running marker ${path.relative(job.recording.output, markerPath(job.jobDir))} is there${m.leftover ? ` (left for ${m.leftover}, removed)` : ''}` };
  for (const dir of foldersOf(job)) {
    const p = partialsIn(dir)[0];
    if (p) return { what: `${path.relative(job.recording.output, p)} is there (a half-written file)` };
  }
  return undefined;
}

/**
 * Remove leftover partials of a recording's jobs (under its lock, after orphans were stopped).
 * A partial whose writer (the pid in its name) is still alive on this machine is left alone.
 * Output folders that are themselves outputs (an in_place folder copy) are searched inside too.
 * The partial was the evidence that a job without a record was interrupted: that evidence is
 * kept as the job's running marker, so its outputs are still never adopted.
 */
export function removeLeftoverPartials(jobs: Job[], hasRecord: (job: Job) => boolean): string[] {
  const removed: string[] = [];
  const foldersByJob = new Map<Job, Set<string>>();
  for (const job of jobs) {
    const dirs = new Set(foldersOf(job));
    for (const o of job.outputs) if (fs.statSync(o, { throwIfNoEntry: false })?.isDirectory()) for (const d of subfolders(o)) dirs.add(d);
    foldersByJob.set(job, dirs);
  }
  for (const dir of new Set([...foldersByJob.values()].flatMap((d) => [...d]))) {
    for (const p of partialsIn(dir)) {
      const pid = Number(partialName.exec(path.basename(p))![2]);
      if (pid !== process.pid && isAlive({ pid, host: hostName })) continue;
      try {
        if (!fs.lstatSync(p).isFile()) continue;
        for (const [job, dirs] of foldersByJob) {
          if (!dirs.has(dir) || hasRecord(job) || readRunningMarker(job.jobDir)) continue;
          writeRunningMarker(job.jobDir, { pid, host: hostName, startedAt: new Date().toISOString(), leftover: path.basename(p) });
        }
        fs.rmSync(p);
        removed.push(p);
      } catch { /* gone meanwhile */ }
    }
  }
  return removed;
}

/** The folder and every folder below it, the engine's own `.ephys-make` folders left out. */
function subfolders(dir: string): string[] {
  return [dir, ...fg.sync('**', { cwd: dir, absolute: true, onlyDirectories: true, dot: true, followSymbolicLinks: false, suppressErrors: true, ignore: ['**/.ephys-make', '**/.ephys-make/**'] })];
}
