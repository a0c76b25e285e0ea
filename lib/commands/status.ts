/**
 * `ephys-make status`: recordings x stages, each cell up to date, stale (reason), failed or running.
 * Rows are printed as each recording is planned, so memory stays flat however many there are.
 */
import { engineOptions, printDiagnostics, type CliOptions } from './options.js';
import type { Io } from '../base/io.js';
import { openPlanner } from '../engine/planner.js';
import { readState } from '../engine/record.js';
import { assertNever } from '../engine/reason.js';
import { jobStateOf, jobStateWords, type JobState } from '../engine/jobState.js';
import type { Job } from '../engine/job.js';
import type { Diagnostic } from '../base/diagnostic.js';

const cellWords = [...Object.values(jobStateWords), 'backed up', '-'];

/** The line under the table for a job that is not simply up to date. */
function detailLine(js: JobState, job: Job): string | undefined {
  switch (js.kind) {
    case 'done': return undefined;
    case 'running': return `running (${js.detail})`;
    case 'failed': return `${js.detail}; log: ${job.logPath}`;
    case 'blocked': return `cannot run: ${js.detail}`;
    case 'stale': return `stale: ${js.detail}`;
    case 'queued': case 'cancelled': return js.detail;
    default: return assertNever(js.kind);
  }
}

export async function status(o: CliOptions, io: Io): Promise<number> {
  const opened = openPlanner(engineOptions(o, io));
  if (!opened.ok) return printDiagnostics(io, opened.diagnostics);
  const planner = opened.value;
  const found = planner.discover();
  if (!found.ok) return printDiagnostics(io, found.diagnostics);
  const recordings = found.value;
  // Jobs handed to SLURM: what SLURM says about them first (queued, running, how they ended).
  const slurm = await (await import('../engine/slurm/statusView.js')).slurmStatus(planner, recordings, io.env);
  if (slurm?.error) io.err(`warning: cannot ask SLURM (${slurm.error}); queued and running jobs are shown as their records say\n`);
  const stages = planner.stages.map((s) => s.name);
  const cellWidth = Math.max(...cellWords.map((w) => w.length));
  const widths = [Math.max('recording'.length, ...recordings.map((r) => r.name.length)), ...stages.map((s) => Math.max(s.length, cellWidth))];
  const line = (cells: string[]) => io.out(cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd() + '\n');
  line(['recording', ...stages]);
  const details: string[] = [];
  const counts = Object.fromEntries(Object.values(jobStateWords).map((w) => [w, 0]));
  let problems = 0;
  // A recording is safe to free once every backup stage is up to date: its copies were read back and matched.
  const isBackup = (name: string) => planner.stages.some((s) => s.name === name && s.run === 'builtin' && s.module === 'backup');
  const backedUp: string[] = [];
  // One pipeline mistake repeats in every recording: said once, at the end, with how many have it.
  const rejected: Diagnostic[] = [];
  for (const rec of recordings) {
    const rp = planner.jobsOf(rec);
    if (!rp.ok) {
      problems++;
      line([rec.name, ...stages.map(() => '?')]);
      rejected.push(...rp.diagnostics);
      continue;
    }
    const { jobs } = rp.value;
    const decisions = rp.value.plan();
    const state = jobs.length ? readState(jobs[0].stateDir) : { jobs: {} as Record<string, any> };
    const row = [rec.name];
    let backups = 0, verified = 0;
    for (const name of stages) {
      const job = jobs.find((j) => j.stage.name === name);
      if (!job) { row.push('-'); continue; }
      const r = state.jobs[name];
      const onSlurm = slurm?.describe(r, job);
      const js: JobState = onSlurm ? { kind: onSlurm.cell, detail: onSlurm.detail } : jobStateOf(job, decisions.get(job.id), r);
      const said = onSlurm ? js.detail : detailLine(js, job);
      if (said) details.push(`${rec.name} ${name}: ${said}`);
      const cell = jobStateWords[js.kind];
      counts[cell]++;
      if (isBackup(name)) { backups++; if (js.kind === 'done') verified++; }
      row.push(js.kind === 'done' && isBackup(name) ? 'backed up' : cell);
    }
    if (backups && verified === backups) backedUp.push(rec.name);
    line(row);
  }
  if (rejected.length) printDiagnostics(io, rejected);
  if (details.length) io.out('\n' + details.join('\n') + '\n');
  if (stages.some(isBackup)) io.out(`\nbacked up and verified: ${backedUp.length} of ${recordings.length} recordings${backedUp.length ? ` (${backedUp.join(', ')})` : ''}\n`);
  io.out(`\n${recordings.length} recordings: ${Object.entries(counts).filter(([, n]) => n).map(([k, n]) => `${n} ${k}`).join(', ') || 'no jobs'}\n`);
  return problems ? 2 : 0;
}
