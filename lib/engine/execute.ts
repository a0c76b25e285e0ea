/**
 * One job's life, with its records:
 *
 *   preflight (inputs, space) -> input.json -> record `running` -> appends_to outputs removed
 *     -> in_place copies -> process
 *     -> exit 0 + outputs present -> record `done` (signatures of outputs) -> runs.jsonl
 *     -> otherwise                -> record `failed` / `interrupted`          -> runs.jsonl
 *
 * Invalidate before start, record after success: a crash anywhere leaves `running`, which the
 * next plan reads as "last run interrupted".
 */
import fs from 'node:fs';
import { InputJsonError, type Job } from './job.js';
import { writeFileAtomic } from '../base/atomicFile.js';
import { spaceNeeded, spaceProblem } from './space.js';
import { isSystemError } from '../base/systemError.js';
import { copyForInPlace } from './inPlaceCopy.js';
import { updateRecord, type JobRecord } from './record.js';
import { removeRunningMarker, writeRunningMarker } from './runningMarker.js';
import { appendRun } from './runLog.js';
import { recordSignature, type Signature } from '../base/signature.js';
import { placeFreeHash, recordKey } from './place.js';
import { hostName, processStartOf } from '../base/processInfo.js';
import { argvFor, expectsOutputJson } from './runners/argv.js';
import { spawnJob, type Progress, type RunningProcess } from './runners/spawnJob.js';
import { versions } from '../base/version.js';
import { holdIfAsked } from './faultPoint.js';

export type JobOutcome =
  | { status: 'done' }
  | { status: 'failed'; message: string; exitCode?: number | null; signal?: string | null }
  | { status: 'interrupted' };

export interface ExecuteOptions {
  reason: string;
  attempt: number;
  checksum: boolean;
  env: NodeJS.ProcessEnv;
  onProgress?: (p: Progress) => void;
  /** Kept in every record this run writes: the SLURM job a node is running it as. */
  recordExtra?: Pick<JobRecord, 'slurm'>;
  /** The job's process group exists (not yet running): record it where others must see it. */
  onSpawned?: (pgid: number, start: string | undefined) => void;
}

export interface ExecutingJob {
  outcome: Promise<JobOutcome>;
  /** Stop the job's process group; the outcome becomes `interrupted` (`why` goes into its record). */
  interrupt(why?: string): void;
}

export function signatureOf(p: string, checksum: boolean): Signature | undefined {
  return recordSignature(p, checksum);
}

export function logTail(logPath: string, lines = 15): string {
  try {
    const text = fs.readFileSync(logPath, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export function executeJob(job: Job, o: ExecuteOptions): ExecutingJob {
  let proc: RunningProcess | undefined;
  let procEnded = false;
  let interrupted = false;
  let stoppedBecause: string | undefined;
  const outcome = run().catch(async (err): Promise<JobOutcome> => {
    if (!isSystemError(err)) throw err;
    // The disk filled (or a folder turned read-only) under the job: its process is stopped, never
    // left running unrecorded, and the job fails in one line. A record still saying `running` (it
    // could not be rewritten) reads as "interrupted" next time: the job runs again.
    if (proc && !procEnded) { proc.stop(); await proc.exited; }
    // Writes to an open file report no path: say which drive it was.
    const what = err.path ? err.message : `writing in ${job.stateDir}: ${err.message}`;
    try {
      updateRecord(job.stateDir, job.stage.name, (old) => (old?.status === 'running' && old.pid === process.pid
        ? { ...old, status: 'failed', exitCode: null, endedAt: new Date().toISOString() } : old));
    } catch {
      return { status: 'failed', message: `${what} (its record could not be updated either; it will run again)` };
    }
    return { status: 'failed', message: what };
  });
  return { outcome, interrupt(why) { interrupted = true; stoppedBecause ??= why; proc?.stop(); } };

  async function run(): Promise<JobOutcome> {
    const started = new Date();
    const finish = (rec: Partial<JobRecord>, out: JobOutcome): JobOutcome => {
      const end = new Date().toISOString();
      // A done record keeps only what later decisions read (the run's details are in runs.jsonl):
      // every plan parses every record.
      try {
        updateRecord(job.stateDir, job.stage.name, (old) => (rec.status === 'done'
          ? { ...rec, ...o.recordExtra, startedAt: started.toISOString(), endedAt: end } as JobRecord
          : { ...(old as JobRecord), ...rec, ...o.recordExtra, endedAt: end }));
      } catch (err) {
        // A full disk: the record still says `running`, which the next plan reads as interrupted,
        // so the job runs again; this run must not count it done either.
        if (!isSystemError(err)) throw err;
        const why = `its record could not be written (${err.message}); it will run again`;
        return { status: 'failed', message: out.status === 'failed' ? `${out.message}; ${why}` : out.status === 'done' ? `finished, but ${why}` : why };
      }
      appendRun(job.stateDir, {
        stage: job.stage.name, reason: o.reason, start: started.toISOString(), end,
        status: out.status, exitCode: 'exitCode' in out ? out.exitCode : undefined, signal: 'signal' in out ? out.signal : undefined,
        attempt: o.attempt, host: hostName, pid: process.pid,
        versions: { ...versions(), ...(job.definition.version ? { [job.stage.module]: job.definition.version } : {}) },
        message: out.status === 'failed' ? out.message : out.status === 'interrupted' ? stoppedBecause : undefined,
      });
      // Only a durable `done` record vouches for the outputs; until then the marker stays.
      if (rec.status === 'done') removeRunningMarker(job.jobDir);
      return out;
    };
    fs.mkdirSync(job.jobDir, { recursive: true });
    if (o.attempt === 1) fs.writeFileSync(job.logPath, '');
    fs.appendFileSync(job.logPath, `=== ${job.stage.name} on ${job.recording.name}, attempt ${o.attempt}, ${started.toISOString()} (${o.reason})\n`);

    // A job planned from its record builds its input JSON only now; what it is made of may have
    // changed in between.
    try { void job.input; } catch (err) {
      if (err instanceof InputJsonError) return failEarly(`cannot build the input JSON: ${err.message}`);
      throw err;
    }
    // Signatures are taken now, before the process starts: an input edited while the job runs
    // makes it stale next time.
    const inputs: Record<string, Signature | null> = {};
    for (const inp of job.inputs) {
      const sig = signatureOf(inp.path, o.checksum) ?? null;
      if (sig === null && !inp.optional) return failEarly(`input missing: ${inp.path}`);
      inputs[recordKey(job.recording, inp.path)] = sig;
    }
    const need = spaceNeeded(job);
    const space = typeof need === 'string' ? need : need && spaceProblem(need);
    if (space) return failEarly(space);

    writeFileAtomic(job.inputJsonPath, JSON.stringify(job.input.json, null, 2) + '\n');
    fs.rmSync(job.outputJsonPath, { force: true });
    // A SLURM job's marker says so: the next taker of the recording leaves its process alone.
    const me = { pid: process.pid, host: hostName, procStart: processStartOf(process.pid), startedAt: started.toISOString() };
    const marker = { ...me, ...(o.recordExtra?.slurm ? { slurmJobId: o.recordExtra.slurm.jobId } : {}) };
    writeRunningMarker(job.jobDir, marker);
    updateRecord(job.stateDir, job.stage.name, () => ({ status: 'running', ...me, reason: o.reason, ...o.recordExtra }));

    for (const out of job.appendsTo) {
      // The program appends to this output: a rerun must start from what a first run sees.
      try {
        if (fs.existsSync(out)) { fs.rmSync(out); fs.appendFileSync(job.logPath, `removed ${out} (appends_to: the program appends to it)\n`); }
      } catch (err: any) {
        return finish({ status: 'failed', exitCode: null }, { status: 'failed', message: `cannot remove ${out} before the run (appends_to): ${err.message}` });
      }
    }
    for (const c of job.inPlace) {
      // The module may rewrite this file or folder; it gets a copy so the source stays pristine
      // and a rerun starts again from it.
      try {
        const n = await copyForInPlace(c.source, c.copy);
        fs.appendFileSync(job.logPath, `copied ${c.source} -> ${c.copy} (in_place ${c.key}, ${n} file${n === 1 ? '' : 's'})\n`);
      } catch (err: any) {
        return finish({ status: 'failed', exitCode: null }, { status: 'failed', message: `cannot copy ${c.source} for in_place ${c.key}: ${err.message}` });
      }
    }
    if (interrupted) return finish({ status: 'interrupted', stoppedBecause }, { status: 'interrupted' });

    const argv = argvFor(job);
    const p = spawnJob(argv, { cwd: job.recording.dir, env: o.env, logPath: job.logPath, onProgress: o.onProgress });
    proc = p;
    void p.exited.then(() => { procEnded = true; });
    if (p.pid > 0) {
      // The job waits in its launcher until its process group is recorded everywhere a successor
      // looks (marker, record, pool slots): killed before go(), nothing runs.
      await holdIfAsked('spawned', o.env, `${p.pid} ${job.id}`);
      writeRunningMarker(job.jobDir, { ...marker, childPid: p.pid, childStart: p.procStart }, { durable: false });
      updateRecord(job.stateDir, job.stage.name, (old) => ({ ...(old as JobRecord), childPid: p.pid, childStart: p.procStart }));
      o.onSpawned?.(p.pid, p.procStart);
      await holdIfAsked('recorded', o.env, `${p.pid} ${job.id}`);
      if (!interrupted) p.go();
    }
    const exit = await p.exited;
    if (interrupted) return finish({ status: 'interrupted', exitCode: exit.code, signal: exit.signal, stoppedBecause }, { status: 'interrupted' });
    if (exit.error) {
      fs.appendFileSync(job.logPath, exit.error + '\n');
      return finish({ status: 'failed', exitCode: null }, { status: 'failed', message: exit.error });
    }
    if (exit.code !== 0) {
      const what = exit.signal ? `killed by ${exit.signal}` : `exit status ${exit.code}`;
      return finish({ status: 'failed', exitCode: exit.code, signal: exit.signal }, { status: 'failed', message: what, exitCode: exit.code, signal: exit.signal });
    }

    let outputJson: unknown;
    if (expectsOutputJson(job)) {
      try {
        outputJson = JSON.parse(fs.readFileSync(job.outputJsonPath, 'utf8'));
      } catch (err: any) {
        const why = err.code === 'ENOENT' ? 'wrote no output JSON' : `wrote an unreadable output JSON (${err.message})`;
        return finish({ status: 'failed', exitCode: 0 }, { status: 'failed', message: `exited 0 but ${why}: ${job.outputJsonPath}`, exitCode: 0 });
      }
    }
    const outputs: Record<string, Signature> = {};
    for (const out of job.outputs) {
      const sig = signatureOf(out, o.checksum);
      if (!sig) return finish({ status: 'failed', exitCode: 0 }, { status: 'failed', message: `exited 0 but did not make declared output ${out}`, exitCode: 0 });
      outputs[recordKey(job.recording, out)] = sig;
    }
    // The module's report, without the input JSON it echoes back (that is input.json beside it).
    const report = outputJson && typeof outputJson === 'object' ? { ...(outputJson as Record<string, unknown>) } : outputJson;
    if (report && typeof report === 'object') delete (report as Record<string, unknown>).input_parameters;
    return finish({
      status: 'done', exitCode: 0,
      definition: job.definition, inputHash: job.input.hash, layersKey: job.layersKey, placeFreeHash: placeFreeHash(job.input.json, job.recording),
      inputs, outputs, outputJson: report,
    }, { status: 'done' });

    function failEarly(message: string): JobOutcome {
      fs.appendFileSync(job.logPath, message + '\n');
      return finish({ status: 'failed', exitCode: null, startedAt: started.toISOString(), reason: o.reason }, { status: 'failed', message });
    }
  }
}

