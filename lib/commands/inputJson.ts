/** `ephys-make input-json STAGE [--dir D]`: print the input JSON a job would get, without running it. */
import { engineOptions, printDiagnostics, type CliOptions } from './options.js';
import type { Io } from '../base/io.js';
import { openPlanner } from '../engine/planner.js';
import type { Job } from '../engine/job.js';

export function inputJson(o: CliOptions, io: Io): number {
  if (o.targets.length !== 1) { io.err('ephys-make: input-json takes one stage name\n'); return 2; }
  const opened = openPlanner(engineOptions(o, io));
  if (!opened.ok) return printDiagnostics(io, opened.diagnostics);
  const planner = opened.value;
  const found = planner.discover();
  if (!found.ok) return printDiagnostics(io, found.diagnostics);
  const jobs: Job[] = [];
  for (const rec of found.value) {
    const rp = planner.jobsOf(rec, false);
    if (!rp.ok) return printDiagnostics(io, rp.diagnostics);
    jobs.push(...rp.value.jobs.filter((j) => j.stage.name === o.targets[0]));
  }
  if (jobs.length === 1) io.out(JSON.stringify(jobs[0].input.json, null, 2) + '\n');
  else io.out(JSON.stringify(Object.fromEntries(jobs.map((j) => [j.recording.name, j.input.json])), null, 2) + '\n');
  return 0;
}
