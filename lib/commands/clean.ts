/**
 * `ephys-make clean [STAGE...]`: remove stages' declared outputs and records, and the records of
 * everything downstream (their inputs are gone). Only declared outputs are touched; a recording
 * another ephys-make is working on is left alone.
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
  for (const rec of found.value) {
    const rp = planner.jobsOf(rec);
    if (!rp.ok) return printDiagnostics(io, rp.diagnostics);
    const { jobs } = rp.value;
    if (!jobs.length) continue;
    const lock = tryLock(path.join(jobs[0].stateDir, 'lock'), 'ephys-make clean');
    if (!lock.ok) { io.err(`skipping ${rec.name}: locked by ${describeHolder(lock.holder)}\n`); continue; }
    try {
      for (const job of jobs) {
        if (cleaned.has(job.stage.name)) {
          for (const out of job.outputs) if (fs.existsSync(out)) { fs.rmSync(out, { force: true }); files++; }
          fs.rmSync(job.jobDir, { recursive: true, force: true });
          updateRecord(job.stateDir, job.stage.name, () => undefined);
        } else if (recordsOnly.has(job.stage.name)) {
          updateRecord(job.stateDir, job.stage.name, () => undefined);
        }
      }
    } finally {
      lock.release();
    }
  }
  io.out(`cleaned ${[...cleaned].join(', ')} in ${found.value.length} recording${found.value.length === 1 ? '' : 's'}: ${files} file${files === 1 ? '' : 's'} removed${recordsOnly.size ? `; records of ${[...recordsOnly].join(', ')} dropped` : ''}\n`);
  return 0;
}
