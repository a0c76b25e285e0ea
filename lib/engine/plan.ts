/**
 * Which jobs run and why: pure, over jobs, records and a stat function. Each job's conditions are
 * checked in a fixed order and the first failing one is its reason, so `--explain`, `status` and
 * runs.jsonl all print the very value the decision was made on.
 */
import type { Job } from './job.js';
import { isInFlight, type Definition, type JobRecord, type RecordingState } from './record.js';
import { firstDifference, stableStringify } from './inputJson.js';
import { sameSignature, type Signature } from '../base/signature.js';
import type { Fresh, Reason } from './reason.js';

export type Decision =
  | { run: true; reason: Reason }
  | { run: false; fresh: Fresh }
  | { run: false; blocked: { path: string } }
  /** Queued or running on SLURM: its record belongs to that SLURM job until it ends. */
  | { run: false; inFlight: InFlight };

export interface InFlight { slurmJobId: string; status: 'queued' | 'running'; node?: string }

export interface PlanInput {
  jobs: Job[];
  states: (stateDir: string) => RecordingState;
  stat: (path: string) => Signature | undefined;
  /** mtime for adoption, separate from the signature because --checksum signatures carry none. */
  mtimeNs: (path: string) => bigint | undefined;
  /** The input JSON of the last run, read only when its hash differs, to name the changed key. */
  previousInput: (job: Job) => unknown;
  forceAll?: boolean;
  forceStages?: Set<string>;
}

const definitionFields: Array<keyof Definition> = ['runner', 'module', 'command', 'python', 'version'];

const definitionKeys = new WeakMap<Definition, string>();
function keyOf(d: Definition): string {
  let k = definitionKeys.get(d);
  if (k === undefined) { k = stableStringify(d); definitionKeys.set(d, k); }
  return k;
}

function definitionChange(before: Definition | undefined, after: Definition): Reason | undefined {
  if (!before) return { kind: 'definition-changed', field: 'definition', before: '(none)', after: after.runner };
  if (stableStringify(before) === keyOf(after)) return undefined;
  for (const f of definitionFields) {
    const a = stableStringify(before[f]), b = stableStringify(after[f]);
    if (a !== b) return { kind: 'definition-changed', field: f, before: before[f] === undefined ? '(none)' : fmt(before[f]), after: after[f] === undefined ? '(none)' : fmt(after[f]) };
  }
  return undefined;
}

function fmt(v: unknown): string {
  return Array.isArray(v) ? v.join(' ') : String(v);
}

/** An input that is a temporary output of an upstream job: judged by that job, not by its file. */
function tempProducer(job: Job, input: string): Job | undefined {
  return job.deps.find((d) => d.stage.temp && d.outputs.includes(input));
}

export function planJobs(p: PlanInput): Map<string, Decision> {
  const decisions = new Map<string, Decision>();
  const needed = new Map<string, Reason>();
  // A rerun of a temp producer makes its consumers stale too, so iterate to a fixpoint.
  for (let round = 0; round < 20; round++) {
    decisions.clear();
    for (const job of p.jobs) decisions.set(job.id, decide(job, p, decisions, needed));
    let added = false;
    for (const job of p.jobs) {
      const d = decisions.get(job.id)!;
      if (!d.run) continue;
      for (const inp of job.inputs) {
        const prod = tempProducer(job, inp.path);
        if (prod && !decisions.get(prod.id)!.run && p.stat(inp.path) === undefined && !needed.has(prod.id)) {
          needed.set(prod.id, { kind: 'temp-needed', by: job.stage.name });
          added = true;
        }
      }
    }
    if (!added) break;
  }
  return decisions;
}

function decide(job: Job, p: PlanInput, decisions: Map<string, Decision>, needed: Map<string, Reason>): Decision {
  const rec: JobRecord | undefined = p.states(job.stateDir).jobs[job.stage.name];
  // Before anything else, -B included: a job is never started twice at once.
  if (isInFlight(rec)) return { run: false, inFlight: { slurmJobId: rec.slurm.jobId, status: rec.status as InFlight['status'], node: rec.slurm.node } };
  if (p.forceAll || p.forceStages?.has(job.stage.name)) return { run: true, reason: { kind: 'forced' } };
  const tempGone = job.stage.temp && rec?.status === 'done' && rec.tempRemoved;
  // An upstream job queued on SLURM reruns too.
  const upstream = job.deps.find((d) => { const x = decisions.get(d.id); return x && (x.run || 'inFlight' in x); });

  // A missing input nobody will make blocks the job (reported as a failure, not a reason).
  for (const inp of job.inputs) {
    if (inp.optional || p.stat(inp.path) !== undefined) continue;
    const producer = job.deps.find((d) => d.outputs.includes(inp.path));
    if (!producer) return { run: false, blocked: { path: inp.path } };
  }

  const neededBy = needed.get(job.id);
  if (neededBy) return { run: true, reason: neededBy };
  // An unfinished run explains a missing output better than the missing output does.
  if (rec?.status === 'running' || rec?.status === 'interrupted' || rec?.status === 'queued') return { run: true, reason: { kind: 'interrupted', pid: rec.pid, host: rec.host, why: rec.status === 'interrupted' ? rec.stoppedBecause : undefined } };
  if (rec?.status === 'failed') return { run: true, reason: { kind: 'failed-before', exitCode: rec.exitCode, signal: rec.signal, why: rec.stoppedBecause } };
  if (!tempGone) {
    for (const o of job.outputs) if (p.stat(o) === undefined) return { run: true, reason: { kind: 'output-missing', path: o } };
  }
  if (!rec) return adoption(job, p, upstream);

  const defChange = definitionChange(rec.definition, job.definition);
  if (defChange) return { run: true, reason: defChange };

  if (rec.inputHash !== job.inputHash) {
    const diff = firstDifference(p.previousInput(job), job.input.json);
    const key = diff?.key ?? '(input JSON)';
    return { run: true, reason: { kind: 'params-changed', key, before: diff?.before, after: diff?.after, source: job.input.origins?.get(key) } };
  }

  for (const inp of job.inputs) {
    if (tempProducer(job, inp.path)) continue;
    const now = p.stat(inp.path) ?? null;
    const then = rec.inputs?.[inp.path] ?? null;
    if (!sameSignature(then, now)) return { run: true, reason: { kind: 'input-changed', path: inp.path, before: then, after: now } };
  }

  if (!tempGone) {
    for (const o of job.outputs) {
      if (!sameSignature(rec.outputs?.[o], p.stat(o))) return { run: true, reason: { kind: 'output-changed', path: o } };
    }
  }

  if (upstream) return { run: true, reason: { kind: 'upstream-ran', stage: upstream.stage.name } };
  return { run: false, fresh: { kind: 'up-to-date' } };
}

/** Make's rule for outputs made before ephys-make kept records: oldest output newer than newest input. */
function adoption(job: Job, p: PlanInput, upstream: Job | undefined): Decision {
  if (upstream) return { run: true, reason: { kind: 'upstream-ran', stage: upstream.stage.name } };
  if (!job.outputs.length) return { run: true, reason: { kind: 'output-missing', path: '(no outputs declared and no record)' } };
  let oldest: { path: string; ns: bigint } | undefined;
  for (const o of job.outputs) {
    const ns = p.mtimeNs(o);
    if (ns === undefined) return { run: true, reason: { kind: 'output-missing', path: o } };
    if (!oldest || ns < oldest.ns) oldest = { path: o, ns };
  }
  for (const inp of job.inputs) {
    const ns = p.mtimeNs(inp.path);
    // As make: equal times count as up to date (copies and coarse file systems give equal stamps).
    if (ns !== undefined && ns > oldest!.ns) return { run: true, reason: { kind: 'input-newer', input: inp.path, output: oldest!.path } };
  }
  return { run: false, fresh: { kind: 'adopted' } };
}
