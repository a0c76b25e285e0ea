/**
 * Which jobs run and why: pure, over jobs, records and a stat function. Each job's conditions are
 * checked in a fixed order and the first failing one is its reason, so `--explain`, `status` and
 * runs.jsonl all print the very value the decision was made on.
 */
import type { Job } from './job.js';
import { describeStateProblem, isInFlight, recordProblem, statePath, type Definition, type JobRecord, type RecordingState } from './record.js';
import { firstDifference, stableStringify } from './inputJson.js';
import { compareWithRecord, type Signature } from '../base/signature.js';
import { placeFreeHash, recorded } from './place.js';
import type { Fresh, Reason } from './reason.js';

export type Decision =
  | { run: true; reason: Reason }
  | { run: false; fresh: Fresh }
  /** `path` is the missing input, or the file that stops the job (`why` then says how). */
  | { run: false; blocked: { path: string; why?: string } }
  /** Queued or running on SLURM: its record belongs to that SLURM job until it ends. */
  | { run: false; inFlight: InFlight };

export interface InFlight { slurmJobId: string; status: 'queued' | 'running'; node?: string }

export interface PlanInput {
  jobs: Job[];
  states: (stateDir: string) => RecordingState;
  /** The file's stat signature (size, mtime, inode), or undefined when it is not there. */
  stat: (path: string) => Signature | undefined;
  /** Its content hash, asked for only where a record must be compared by content. */
  hash: (path: string) => string | undefined;
  /** mtime for adoption. */
  mtimeNs: (path: string) => bigint | undefined;
  /** The input JSON of the last run, read only when its hash differs, to name the changed key. */
  previousInput: (job: Job) => unknown;
  /**
   * What a killed run of the job left behind (its running marker, a `*.partial`), read only when
   * the job has no record: a half-written output is never adopted.
   */
  leftovers: (job: Job) => { pid?: number; host?: string; what: string } | undefined;
  forceAll?: boolean;
  forceStages?: Set<string>;
}

const definitionFields: Array<keyof Definition> = ['runner', 'module', 'command', 'python', 'version'];

/** Field by field: every job of a no-op run asks this, and a stringify of each record costs. */
function sameDefinition(a: Definition, b: Definition): boolean {
  for (const f of definitionFields) {
    const x = a[f], y = b[f];
    if (x === y) continue;
    if (!Array.isArray(x) || !Array.isArray(y) || x.length !== y.length || x.some((v, i) => v !== y[i])) return false;
  }
  return true;
}

function definitionChange(before: Definition | undefined, after: Definition): Reason | undefined {
  if (!before) return { kind: 'definition-changed', field: 'definition', before: '(none)', after: after.runner };
  if (sameDefinition(before, after)) return undefined;
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

// Shared and frozen: most decisions of most plans are one of these.
const upToDate: Decision = Object.freeze({ run: false, fresh: Object.freeze({ kind: 'up-to-date' }) } as const);
const confirmedDecision: Decision = Object.freeze({ run: false, fresh: Object.freeze({ kind: 'confirmed' }) } as const);

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
  const state = p.states(job.stateDir);
  // A newer ephys-make's records are neither trusted nor overwritten.
  if (state.problem?.kind === 'newer') return { run: false, blocked: { path: state.problem.file, why: describeStateProblem(state.problem) } };
  const raw: unknown = state.jobs[job.stage.name];
  const bad = raw === undefined ? undefined : recordProblem(raw);
  const rec = bad ? undefined : raw as JobRecord | undefined;
  // Before anything else, -B included: a job is never started twice at once.
  if (isInFlight(rec)) return { run: false, inFlight: { slurmJobId: rec.slurm.jobId, status: rec.status as InFlight['status'], node: rec.slurm.node } };
  if (p.forceAll || p.forceStages?.has(job.stage.name)) return { run: true, reason: { kind: 'forced' } };
  if (state.problem) return { run: true, reason: { kind: 'record-damaged', file: state.problem.file, detail: state.problem.detail } };
  if (bad) return { run: true, reason: { kind: 'record-damaged', file: statePath(job.stateDir), detail: `holds a record of ${job.stage.name} that ${bad}` } };
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
  if (!rec) {
    if (state.recordsLost) return { run: true, reason: { kind: 'record-damaged', file: statePath(job.stateDir), detail: `was damaged earlier (${state.recordsLost}): no output of this recording is adopted` } };
    return adoption(job, p, upstream);
  }

  const defChange = definitionChange(rec.definition, job.definition);
  if (defChange) return { run: true, reason: defChange };

  // Found the same by content, or at a new place: up to date, and the record is to be rewritten.
  let confirmed = false;
  if (rec.inputHash !== job.inputHash && rec.placeFreeHash !== undefined && rec.placeFreeHash === placeFreeHash(job.input.json, job.recording)) confirmed = true;
  else if (rec.inputHash !== job.inputHash) {
    const diff = firstDifference(p.previousInput(job), job.input.json);
    const key = diff?.key ?? '(input JSON)';
    return { run: true, reason: { kind: 'params-changed', key, before: diff?.before, after: diff?.after, source: job.input.origins?.get(key) } };
  }

  for (const inp of job.inputs) {
    if (tempProducer(job, inp.path)) continue;
    const now = p.stat(inp.path);
    const then = recorded(job.recording, rec.inputs, inp.path) ?? null;
    const c = compareWithRecord(then, now, () => p.hash(inp.path));
    if (c === 'changed') return { run: true, reason: { kind: 'input-changed', path: inp.path, before: then, after: now ?? null } };
    if (c === 'confirmed') confirmed = true;
  }

  if (!tempGone) {
    for (const o of job.outputs) {
      const c = compareWithRecord(recorded(job.recording, rec.outputs, o), p.stat(o), () => p.hash(o));
      if (c === 'changed') return { run: true, reason: { kind: 'output-changed', path: o } };
      if (c === 'confirmed') confirmed = true;
    }
  }

  if (upstream) return { run: true, reason: { kind: 'upstream-ran', stage: upstream.stage.name } };
  return confirmed ? confirmedDecision : upToDate;
}

/** Make's rule for outputs made before ephys-make kept records: oldest output newer than newest input. */
function adoption(job: Job, p: PlanInput, upstream: Job | undefined): Decision {
  if (upstream) return { run: true, reason: { kind: 'upstream-ran', stage: upstream.stage.name } };
  if (!job.outputs.length) return { run: true, reason: { kind: 'output-missing', path: '(no outputs declared and no record)' } };
  const left = p.leftovers(job);
  if (left) return { run: true, reason: { kind: 'interrupted', pid: left.pid, host: left.host, why: `no record, but ${left.what}` } };
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
