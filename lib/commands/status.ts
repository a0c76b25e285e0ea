/** `ephys-make status`: recordings x stages, each cell up to date, stale (reason), failed or running. */
import { engineOptions, printDiagnostics, type CliOptions } from './options.js';
import type { Io } from '../base/io.js';
import { openEngine } from '../engine/planner.js';
import { readState } from '../engine/record.js';
import { describeReason } from '../engine/reason.js';
import { isAlive } from '../base/processInfo.js';

export function status(o: CliOptions, io: Io): number {
  const opened = openEngine(engineOptions(o, io));
  if (!opened.ok) return printDiagnostics(io, opened.diagnostics);
  const engine = opened.value;
  const decisions = engine.plan();
  const stages = engine.graph.order.filter((s) => engine.stageNames.has(s.name)).map((s) => s.name);
  const rows: string[][] = [['recording', ...stages]];
  const details: string[] = [];
  const counts = { 'up to date': 0, stale: 0, failed: 0, running: 0, blocked: 0 };
  for (const rec of engine.recordings) {
    const jobs = engine.byRecording.get(rec.dir) ?? [];
    const state = jobs.length ? readState(jobs[0].stateDir) : { jobs: {} as Record<string, any> };
    const row = [rec.name];
    for (const name of stages) {
      const job = jobs.find((j) => j.stage.name === name);
      if (!job) { row.push('-'); continue; }
      const d = decisions.get(job.id)!;
      const r = state.jobs[name];
      let cell: string;
      if (r?.status === 'running' && r.pid && r.host && isAlive({ pid: r.pid, host: r.host, procStart: r.procStart })) {
        cell = 'running'; counts.running++;
        details.push(`${rec.name} ${name}: running (pid ${r.pid} on ${r.host} since ${r.startedAt})`);
      } else if (r?.status === 'failed') {
        cell = 'failed'; counts.failed++;
        details.push(`${rec.name} ${name}: last run failed${r.exitCode != null ? ` (exit ${r.exitCode})` : ''}; log: ${job.logPath}`);
      } else if (!d.run && 'blocked' in d) {
        cell = 'blocked'; counts.blocked++;
        details.push(`${rec.name} ${name}: cannot run: input missing: ${d.blocked.path}`);
      } else if (!d.run) {
        cell = 'up to date'; counts['up to date']++;
      } else {
        cell = 'stale'; counts.stale++;
        details.push(`${rec.name} ${name}: stale: ${describeReason(d.reason)}`);
      }
      row.push(cell);
    }
    rows.push(row);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) io.out(r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd() + '\n');
  if (details.length) io.out('\n' + details.join('\n') + '\n');
  io.out(`\n${engine.recordings.length} recordings: ${Object.entries(counts).filter(([, n]) => n).map(([k, n]) => `${n} ${k}`).join(', ') || 'no jobs'}\n`);
  return 0;
}
