/**
 * `ephys-make clean [STAGE...]`: remove stages' declared outputs and records, and the records of
 * everything downstream (their inputs are gone). Only declared outputs are touched, never a
 * recording's own file; a recording another ephys-make is working on is left alone. `-n` prints
 * what would go and changes nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { engineOptions, printDiagnostics, type CliOptions } from './options.js';
import type { Io } from '../base/io.js';
import { openPlanner } from '../engine/planner.js';
import { downstreamOf } from '../engine/graph.js';
import { updateRecord } from '../engine/record.js';
import { tryLock, describeHolder } from '../engine/lock.js';

export function clean(o: CliOptions, io: Io): number {
  const stages = o.targets.length ? o.targets : ['all'];
  const opened = openPlanner({ ...engineOptions(o, io), targets: ['all'] });
  if (!opened.ok) return printDiagnostics(io, opened.diagnostics);
  const planner = opened.value;
  const found = planner.discover();
  if (!found.ok) return printDiagnostics(io, found.diagnostics);
  const cleaned = new Set<string>();
  const names = stages.includes('all') ? planner.graph.order.map((s) => s.name) : stages;
  for (const n of names) {
    if (!planner.pipeline.stageByName.has(n)) { io.err(`ephys-make: clean: no stage '${n}'\n`); return 2; }
    cleaned.add(n);
  }
  const recordsOnly = new Set<string>();
  for (const n of cleaned) for (const d of downstreamOf(planner.graph, n)) if (!cleaned.has(d)) recordsOnly.add(d);
  let files = 0;
  let refused = 0;
  const verb = o.dryRun ? 'would be removed' : 'removed';
  for (const rec of found.value) {
    const rp = planner.jobsOf(rec);
    if (!rp.ok) return printDiagnostics(io, rp.diagnostics);
    const { jobs } = rp.value;
    if (!jobs.length) continue;
    // -n touches nothing, not even the lock.
    const lock = o.dryRun ? { ok: true as const, release: () => {} } : tryLock(path.join(jobs[0].stateDir, 'lock'), 'ephys-make clean');
    if (!lock.ok) { io.err(`skipping ${rec.name}: locked by ${describeHolder(lock.holder)}\n`); continue; }
    try {
      for (const job of jobs) {
        if (cleaned.has(job.stage.name)) {
          for (const out of job.outputs) {
            if (!fs.existsSync(out)) continue;
            // Belt and braces: the config check already refuses such outputs.
            const own = job.ownFiles.reasonFor(out);
            if (own) { io.err(`ephys-make clean: not removing ${out}: it is recording ${rec.name}'s own file (${own})\n`); refused++; continue; }
            if (o.dryRun) io.out(`would remove ${out}\n`); else fs.rmSync(out, { force: true });
            files++;
          }
          const inside = job.ownFiles.holdsOwnFile(job.jobDir);
          if (inside) { io.err(`ephys-make clean: not removing ${job.jobDir}: it holds ${inside}\n`); refused++; }
          else if (o.dryRun) { if (fs.existsSync(job.jobDir)) io.out(`would remove ${job.jobDir}/\n`); }
          else fs.rmSync(job.jobDir, { recursive: true, force: true });
          if (!o.dryRun) updateRecord(job.stateDir, job.stage.name, () => undefined);
        } else if (recordsOnly.has(job.stage.name) && !o.dryRun) {
          updateRecord(job.stateDir, job.stage.name, () => undefined);
        }
      }
    } finally {
      lock.release();
    }
  }
  const recs = `${found.value.length} recording${found.value.length === 1 ? '' : 's'}`;
  io.out(`${o.dryRun ? 'would clean' : 'cleaned'} ${[...cleaned].join(', ')} in ${recs}: ${files} file${files === 1 ? '' : 's'} ${verb}${recordsOnly.size ? `; records of ${[...recordsOnly].join(', ')} ${o.dryRun ? 'would be ' : ''}dropped` : ''}\n`);
  if (refused) { io.err(`ephys-make clean: ${refused} path${refused === 1 ? '' : 's'} left alone: a recording's own files are never removed\n`); return 1; }
  return 0;
}
