/**
 * The one way every command (and watch) gets from pipeline.yaml to decisions:
 *
 *   openPlanner (pipeline.yaml -> config -> graph -> --set, once)
 *     -> discover (recordings, paths only)
 *     -> jobsOf(recording) -> RecordingPlan.plan() (records and stats read fresh)
 *
 * Jobs are built one recording at a time, so memory stays flat however many recordings there are.
 */
import fs from 'node:fs';
import { loadPipeline, type Pipeline, type Stage } from './config.js';
import { pipelinePath } from './pipelinePath.js';
import { buildGraph, stagesFor, type StageGraph } from './graph.js';
import { discoverRecordings, stateDir, type Recording } from './recordings.js';
import { makeJobs, type Job } from './job.js';
import { parseSet, type SetValue } from './inputJson.js';
import { planJobs, type Decision, type InFlight } from './plan.js';
import { readState, statePath, type RecordingState } from './record.js';
import { layerFiles } from './inputKey.js';
import { schemaCandidate } from './stageSchemas.js';
import { entryFor, type Entry } from './upToDateIndex.js';
import { witnessOf } from './witness.js';
import type { ListingCache } from './listingCache.js';
import { findLeftover } from './leftovers.js';
import { describeReason } from './reason.js';
import { contentHash, statSignature, type Signature } from '../base/signature.js';
import { fail, ok, type Diagnostic, type Result } from '../base/diagnostic.js';

export interface PlannerOptions {
  file?: string;
  cwd: string;
  root?: string;
  dirs?: string[];
  targets: string[];
  sets?: string[];
  checksum?: boolean;
  forceAll?: boolean;
  forceStages?: string[];
}

/** One recording's jobs (in stage order) and a way to decide them against what is on disk now. */
export interface RecordingPlan {
  recording: Recording;
  jobs: Job[];
  /** Fresh reads every time: another process may have changed records or files since. */
  plan(): Map<string, Decision>;
  /**
   * After a plan that found every job up to date: the up-to-date index's entry for the recording
   * (upToDateIndex.ts), when it was planned with `witness`.
   */
  witness(): Entry | undefined;
}

export interface Planner {
  options: PlannerOptions;
  pipeline: Pipeline;
  graph: StageGraph;
  /** The targets and their prerequisites. */
  stageNames: Set<string>;
  /** Those stages in graph order. */
  stages: Stage[];
  sets: SetValue[];
  /** Recordings under the root (or --root / --dir, or `dirs` when given). */
  discover(dirs?: string[], listings?: ListingCache): Result<Recording[]>;
  /**
   * `fromRecords` (default): a job whose record vouches for its input JSON (inputKey.ts) builds
   * it only when asked; false builds every input JSON now (to show or validate them all).
   */
  jobsOf(recording: Recording, fromRecords?: boolean, witness?: boolean): Result<RecordingPlan>;
  /** The stage schema files the plan reads (or would read, were they there). */
  schemaFiles(): string[];
}

export function openPlanner(opts: PlannerOptions): Result<Planner> {
  const loaded = loadPipeline(pipelinePath(opts));
  if (!loaded.ok) return loaded;
  const pipeline = loaded.value;
  const graph = buildGraph(pipeline);
  if (!graph.ok) return graph;
  const diags: Diagnostic[] = [];
  const sets: SetValue[] = [];
  for (const s of opts.sets ?? []) {
    const r = parseSet(s, pipeline);
    if (r.ok) sets.push(r.value); else diags.push(...r.diagnostics);
  }
  for (const f of opts.forceStages ?? []) {
    if (!pipeline.stageByName.has(f)) diags.push({ message: `--force ${f}: no such stage (stages: ${[...pipeline.stageByName.keys()].join(', ')})` });
  }
  const stageNames = stagesFor(graph.value, opts.targets, pipeline);
  if (!stageNames.ok) diags.push(...stageNames.diagnostics);
  if (diags.length || !stageNames.ok) return fail(...diags);
  const g = graph.value;
  const names = stageNames.value;
  const forceStages = new Set(opts.forceStages ?? []);
  const stages = g.order.filter((s) => names.has(s.name));
  return ok({
    options: opts,
    pipeline,
    graph: g,
    stageNames: names,
    stages,
    sets,
    discover: (dirs, listings) => discoverRecordings(pipeline, { root: opts.root, dirs: dirs ?? opts.dirs, cwd: opts.cwd, listings }),
    jobsOf(recording, fromRecords = true, witness = false) {
      // The files read for their content, stat'ed before they are read.
      const sd = stateDir(recording);
      const before = witness ? witnessOf([statePath(sd), ...layerFiles(pipeline, recording)]) : undefined;
      // The records read to build the jobs serve their first plan too; later plans read afresh.
      let states: Map<string, RecordingState> | undefined = new Map();
      const read = (dir: string) => { let s = states?.get(dir); if (!s) { s = readState(dir); states?.set(dir, s); } return s; };
      const made = makeJobs(pipeline, g, [recording], names, sets, fromRecords ? read : undefined);
      if (!made.ok) return made;
      const jobs = made.value.jobs;
      let seen: Map<string, Signature | undefined> | undefined;
      return ok({
        recording, jobs,
        plan: () => { const s = states; states = undefined; seen = new Map(); return decide(jobs, opts, forceStages, seen, s); },
        witness: () => (before && seen && jobs.every((j) => j.stateDir === sd) ? entryFor(recording, jobs.length, before, seen) : undefined),
      });
    },
    schemaFiles: () => [...new Set(stages.map(schemaCandidate))],
  });
}

/** `sigs` gets every file signature the decisions were made on. */
function decide(jobs: Job[], opts: PlannerOptions, forceStages: Set<string>, sigs: Map<string, Signature | undefined>, read?: Map<string, RecordingState>): Map<string, Decision> {
  const states = read ?? new Map<string, RecordingState>();
  const stat = (p: string) => {
    if (!sigs.has(p)) sigs.set(p, statSignature(p));
    return sigs.get(p);
  };
  return planJobs({
    jobs,
    states: (dir) => { let s = states.get(dir); if (!s) { s = readState(dir); states.set(dir, s); } return s; },
    stat,
    hash: contentHash,
    mtimeNs: (p) => fs.statSync(p, { bigint: true, throwIfNoEntry: false })?.mtimeNs,
    leftovers: findLeftover,
    previousInput: (job) => { try { return JSON.parse(fs.readFileSync(job.inputJsonPath, 'utf8')); } catch { return undefined; } },
    forceAll: opts.forceAll,
    forceStages,
  });
}

export interface PlanCounts { type: 'plan'; total: number; toRun: number; upToDate: number; blocked: number; inFlight?: number }

export function planCounts(decisions: Map<string, Decision>): PlanCounts {
  let toRun = 0, blocked = 0, upToDate = 0, inFlight = 0;
  for (const d of decisions.values()) {
    if (d.run) toRun++; else if ('blocked' in d) blocked++; else if ('inFlight' in d) inFlight++; else upToDate++;
  }
  return { type: 'plan', total: decisions.size, toRun, upToDate, blocked, ...(inFlight ? { inFlight } : {}) };
}

export interface Runnable {
  job: Job;
  reason: string;
  /** An upstream job queued or running on SLURM: this one can follow it there, not run here yet. */
  waitsFor?: { job: Job; slurmJobId: string };
}

/** Jobs to queue: stale ones whose upstream is not blocked. */
export function runnable(jobs: Job[], decisions: Map<string, Decision>): Runnable[] {
  const blocked = new Set<string>();
  const waiting = new Map<string, Runnable['waitsFor']>();
  const out: Runnable[] = [];
  for (const job of jobs) {
    const d = decisions.get(job.id)!;
    if (!d.run && 'blocked' in d) { blocked.add(job.id); continue; }
    if (job.deps.some((x) => blocked.has(x.id))) { blocked.add(job.id); continue; }
    if (!d.run && 'inFlight' in d) { waiting.set(job.id, { job, slurmJobId: d.inFlight.slurmJobId }); continue; }
    const waitsFor = job.deps.map((x) => waiting.get(x.id)).find((w) => w);
    if (d.run) {
      out.push(waitsFor ? { job, reason: describeReason(d.reason), waitsFor } : { job, reason: describeReason(d.reason) });
      if (waitsFor) waiting.set(job.id, waitsFor);
    }
  }
  return out;
}

/** What one plan of a recording asks of the scheduler. */
export interface RecordingWork {
  toRun: Runnable[];
  /** Up to date now: their dependents may start. */
  fresh: Job[];
  /** Up to date by Make's rule with no record: a record is to be written. */
  adopted: Job[];
  /** Up to date, but the record's layersKey is old (pipeline.yaml edited elsewhere, say): renew it. */
  rekey: Job[];
  /** Up to date, the same content at a new place or time: the record is to be rewritten. */
  confirmed: Job[];
  blocked: Array<{ job: Job; blocked: { path: string; why?: string } }>;
  /** Queued or running on SLURM. */
  inFlight: Array<{ job: Job } & InFlight>;
}

/** Up-to-date jobs whose records are to be written (adopted, confirmed, re-keyed): what a no-op run asks of every recording. */
export function recordsToWrite(rp: RecordingPlan, decisions: Map<string, Decision>): Pick<RecordingWork, 'adopted' | 'rekey' | 'confirmed'> {
  const out: Pick<RecordingWork, 'adopted' | 'rekey' | 'confirmed'> = { adopted: [], rekey: [], confirmed: [] };
  for (const job of rp.jobs) {
    const d = decisions.get(job.id)!;
    if (d.run || !('fresh' in d)) continue;
    if (d.fresh.kind === 'adopted') out.adopted.push(job);
    else if (d.fresh.kind === 'confirmed') out.confirmed.push(job);
    else if (!job.fromRecord) out.rekey.push(job);
  }
  return out;
}

export function workOf(rp: RecordingPlan, decisions: Map<string, Decision>): RecordingWork {
  const work: RecordingWork = { toRun: runnable(rp.jobs, decisions), fresh: [], ...recordsToWrite(rp, decisions), blocked: [], inFlight: [] };
  for (const job of rp.jobs) {
    const d = decisions.get(job.id)!;
    if (d.run) continue;
    if ('fresh' in d) {
      work.fresh.push(job);
    } else if ('inFlight' in d) {
      work.inFlight.push({ job, ...d.inFlight });
    } else {
      work.blocked.push({ job, blocked: d.blocked });
    }
  }
  return work;
}

export interface PlannedRun {
  /** Recordings with work, by folder: the scheduler replans them once their lock is held. */
  plans: Map<string, RecordingPlan>;
  work: RecordingWork;
  counts: PlanCounts;
  /** Recordings that could not be planned (a bad .meta, an incomplete copy...), with why. */
  unplanned: Array<{ recording: Recording; diagnostics: Diagnostic[] }>;
}

export interface PlanRunOptions {
  /** Keep the plans of recordings with work (default), for the scheduler. */
  keep?: boolean;
  /** Recordings the up-to-date index vouches for, by folder, with their number of jobs: not planned. */
  upToDate?: Map<string, number>;
  /** Stat what each plan reads, so RecordingPlan.witness() can make an index entry. */
  witness?: boolean;
}

/**
 * Plan recording by recording, keeping only recordings with work (`keep`): a no-op run over
 * thousands of recordings then holds one recording's jobs at a time. `seen` gets every plan.
 */
export function planRun(planner: Planner, recordings: Recording[], seen: (rp: RecordingPlan, decisions: Map<string, Decision>) => void, o: PlanRunOptions = {}): PlannedRun {
  const keep = o.keep ?? true;
  const run: PlannedRun = { plans: new Map(), work: { toRun: [], fresh: [], adopted: [], rekey: [], confirmed: [], blocked: [], inFlight: [] }, counts: { type: 'plan', total: 0, toRun: 0, upToDate: 0, blocked: 0 }, unplanned: [] };
  for (const rec of recordings) {
    const vouched = o.upToDate?.get(rec.dir);
    if (vouched !== undefined) { run.counts.total += vouched; run.counts.upToDate += vouched; continue; }
    const rp = planner.jobsOf(rec, true, o.witness);
    // One recording's problem (its .meta, say) never holds up the others.
    if (!rp.ok) { run.unplanned.push({ recording: rec, diagnostics: rp.diagnostics }); continue; }
    const decisions = rp.value.plan();
    const c = planCounts(decisions);
    run.counts.total += c.total; run.counts.toRun += c.toRun; run.counts.upToDate += c.upToDate; run.counts.blocked += c.blocked;
    if (c.inFlight) run.counts.inFlight = (run.counts.inFlight ?? 0) + c.inFlight;
    seen(rp.value, decisions);
    if (keep && (c.toRun || c.blocked || c.inFlight)) {
      const w = workOf(rp.value, decisions);
      // Jobs queued on SLURM are kept for what follows them there; alone they are no work here.
      run.work.inFlight.push(...w.inFlight);
      if (!c.toRun && !c.blocked) continue;
      run.plans.set(rec.dir, rp.value);
      run.work.toRun.push(...w.toRun);
      run.work.fresh.push(...w.fresh);
      run.work.blocked.push(...w.blocked);
    }
  }
  return run;
}
