/**
 * pipeline.yaml -> config -> graph -> recordings -> jobs, and planning over them: the shared
 * front half of `run`, `status` and `watch`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadPipeline, type Pipeline } from './config.js';
import { buildGraph, stagesFor, type StageGraph } from './graph.js';
import { discoverRecordings, type Recording } from './recordings.js';
import { makeJobs, type Job } from './job.js';
import { parseSet, type SetValue } from './inputJson.js';
import { planJobs, type Decision } from './plan.js';
import { readState, type RecordingState } from './record.js';
import { checksumSignature, statSignature, type Signature } from '../base/signature.js';
import { fail, ok, type Diagnostic, type Result } from '../base/diagnostic.js';

export interface EngineOptions {
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

export interface Engine {
  pipeline: Pipeline;
  graph: StageGraph;
  recordings: Recording[];
  stageNames: Set<string>;
  jobs: Job[];
  byRecording: Map<string, Job[]>;
  plan(jobs?: Job[]): Map<string, Decision>;
}

export function pipelinePath(opts: { file?: string; cwd: string }): string {
  return path.resolve(opts.cwd, opts.file ?? 'pipeline.yaml');
}

export function loadAll(opts: EngineOptions): Result<Pick<Engine, 'pipeline' | 'graph' | 'stageNames'> & { sets: SetValue[] }> {
  const loaded = loadPipeline(pipelinePath(opts));
  if (!loaded.ok) return loaded;
  const pipeline = loaded.value;
  const graph = buildGraph(pipeline);
  if (!graph.ok) return graph;
  const diags: Diagnostic[] = [];
  const sets: SetValue[] = [];
  for (const s of opts.sets ?? []) {
    const r = parseSet(s, new Set(pipeline.stageByName.keys()));
    if (r.ok) sets.push(r.value); else diags.push(...r.diagnostics);
  }
  for (const f of opts.forceStages ?? []) {
    if (!pipeline.stageByName.has(f)) diags.push({ message: `--force ${f}: no such stage (stages: ${[...pipeline.stageByName.keys()].join(', ')})` });
  }
  const stageNames = stagesFor(graph.value, opts.targets, pipeline);
  if (!stageNames.ok) diags.push(...stageNames.diagnostics);
  if (diags.length || !stageNames.ok) return fail(...diags);
  return ok({ pipeline, graph: graph.value, stageNames: stageNames.value, sets });
}

export function openEngine(opts: EngineOptions): Result<Engine> {
  const base = loadAll(opts);
  if (!base.ok) return base;
  const { pipeline, graph, stageNames, sets } = base.value;
  const recordings = discoverRecordings(pipeline, { root: opts.root, dirs: opts.dirs, cwd: opts.cwd });
  if (!recordings.ok) return recordings;
  return jobsFor(pipeline, graph, stageNames, sets, recordings.value, opts);
}

export function jobsFor(pipeline: Pipeline, graph: StageGraph, stageNames: Set<string>, sets: SetValue[], recordings: Recording[], opts: EngineOptions): Result<Engine> {
  const made = makeJobs(pipeline, graph, recordings, stageNames, sets);
  if (!made.ok) return made;
  const { jobs, byRecording } = made.value;
  const forceStages = new Set(opts.forceStages ?? []);
  const plan = (subset: Job[] = jobs) => {
    // Fresh reads every time: another process may have changed records or files since.
    const states = new Map<string, RecordingState>();
    const sigs = new Map<string, Signature | undefined>();
    const stat = (p: string) => {
      if (!sigs.has(p)) sigs.set(p, opts.checksum ? checksumSignature(p) : statSignature(p));
      return sigs.get(p);
    };
    return planJobs({
      jobs: subset,
      states: (dir) => { let s = states.get(dir); if (!s) { s = readState(dir); states.set(dir, s); } return s; },
      stat,
      mtimeNs: (p) => fs.statSync(p, { bigint: true, throwIfNoEntry: false })?.mtimeNs,
      previousInput: (job) => { try { return JSON.parse(fs.readFileSync(job.inputJsonPath, 'utf8')); } catch { return undefined; } },
      forceAll: opts.forceAll,
      forceStages,
    });
  };
  return ok({ pipeline, graph, recordings, stageNames, jobs, byRecording, plan });
}
