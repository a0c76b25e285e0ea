/**
 * `ephys-make status`: recordings x stages, each cell up to date, stale (reason), failed or running.
 * Rows are printed as each recording is planned, so memory stays flat however many there are.
 */
import { engineOptions, printDiagnostics, type CliOptions } from './options.js';
import type { Io } from '../base/io.js';
import { openPlanner } from '../engine/planner.js';
import { readState } from '../engine/record.js';
import { describeReason } from '../engine/reason.js';
import { isAlive } from '../base/processInfo.js';

const cellWords = ['up to date', 'stale', 'failed', 'running', 'queued', 'cancelled', 'blocked', '-'];

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
  const counts = { 'up to date': 0, stale: 0, failed: 0, running: 0, queued: 0, cancelled: 0, blocked: 0 };
  let problems = 0;
  // A recording is safe to free once every backup stage is up to date: its copies were read back and matched.
  const isBackup = (name: string) => planner.stages.some((s) => s.name === name && s.run === 'builtin' && s.module === 'backup');
  const backedUp: string[] = [];
  for (const rec of recordings) {
    const rp = planner.jobsOf(rec);
    if (!rp.ok) {
      problems++;
      line([rec.name, ...stages.map(() => '?')]);
      printDiagnostics(io, rp.diagnostics);
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
      const d = decisions.get(job.id)!;
      const r = state.jobs[name];
      let cell: keyof typeof counts;
      const onSlurm = slurm?.describe(r, job);
      if (onSlurm) {
        cell = onSlurm.cell;
        details.push(`${rec.name} ${name}: ${onSlurm.detail}`);
      } else if (r?.status === 'running' && r.pid && r.host && isAlive({ pid: r.pid, host: r.host, procStart: r.procStart })) {
        cell = 'running';
        details.push(`${rec.name} ${name}: running (pid ${r.pid} on ${r.host} since ${r.startedAt})`);
      } else if (r?.status === 'failed') {
        cell = 'failed';
        details.push(`${rec.name} ${name}: last run failed${r.exitCode != null ? ` (exit ${r.exitCode})` : ''}; log: ${job.logPath}`);
      } else if (!d.run && 'blocked' in d) {
        cell = 'blocked';
        details.push(`${rec.name} ${name}: cannot run: input missing: ${d.blocked.path}`);
      } else if (!d.run) {
        cell = 'up to date';
      } else {
        cell = 'stale';
        details.push(`${rec.name} ${name}: stale: ${describeReason(d.reason)}`);
      }
      counts[cell]++;
      if (isBackup(name)) { backups++; if (cell === 'up to date') verified++; }
      row.push(cell === 'up to date' && isBackup(name) ? 'backed up' : cell);
    }
    if (backups && verified === backups) backedUp.push(rec.name);
    line(row);
  }
  if (details.length) io.out('\n' + details.join('\n') + '\n');
  if (stages.some(isBackup)) io.out(`\nbacked up and verified: ${backedUp.length} of ${recordings.length} recordings${backedUp.length ? ` (${backedUp.join(', ')})` : ''}\n`);
  io.out(`\n${recordings.length} recordings: ${Object.entries(counts).filter(([, n]) => n).map(([k, n]) => `${n} ${k}`).join(', ') || 'no jobs'}\n`);
  return problems ? 2 : 0;
}
