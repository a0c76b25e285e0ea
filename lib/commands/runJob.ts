/**
 * `ephys-make run-job --dir D [--root R] -f pipeline.yaml [--set S.K=V]... [--checksum] --reason WHY STAGE`:
 * what a SLURM job runs on its node. Not for people: `ephys-make all --executor slurm` writes these
 * arguments. The job is built from pipeline.yaml as any run builds it and goes through the same
 * life cycle as a local job (record `running`, the process, record `done`/`failed` with
 * signatures, runs.jsonl), so records mean the same whatever the executor. Exit 0 only when the
 * job is done: SLURM's afterok then starts its dependents.
 */
import { parseArgs } from 'node:util';
import type { Io } from '../base/io.js';
import { printDiagnostics } from './options.js';
import { readState } from '../engine/record.js';
import type { ExecutingJob } from '../engine/execute.js';
import { jobSucceeded, localExecutor } from '../engine/lifecycle.js';
import { hostName } from '../base/processInfo.js';
import { jobFromSpec, jobSpecVariable } from '../engine/slurm/jobSpec.js';
import type { Job } from '../engine/job.js';

export async function runJob(argv: string[], io: Io): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv, allowPositionals: true, strict: true,
      options: {
        file: { type: 'string', short: 'f' }, root: { type: 'string' }, dir: { type: 'string' },
        set: { type: 'string', multiple: true }, checksum: { type: 'boolean' }, reason: { type: 'string' },
      },
    });
  } catch (err: any) {
    io.err(`ephys-make run-job: ${err.message}\n`);
    return 2;
  }
  const v = parsed.values;
  const stage = parsed.positionals[0];
  if (!v.dir || !stage || parsed.positionals.length !== 1) {
    io.err('ephys-make run-job: expected --dir D and one STAGE (this command is what SLURM jobs run; use `ephys-make STAGE --dir D`)\n');
    return 2;
  }
  // The job as planned at submission, or (without it) as pipeline.yaml makes it now.
  const dir = v.dir;
  const job = jobFromSpec(io.env[jobSpecVariable], dir, stage) ?? await planJob({ ...v, dir }, stage, io);
  if (typeof job === 'number') return job;

  const slurm = { jobId: io.env.SLURM_JOB_ID ?? 'unknown', node: io.env.SLURMD_NODENAME ?? hostName };
  const before = readState(job.stateDir).jobs[stage];
  const env: NodeJS.ProcessEnv = { ...io.env, EPHYS_MAKE_JOB: job.id };
  delete env[jobSpecVariable];
  // SLURM requeued a job that had already finished (a node lost after its end): nothing to redo.
  if (before?.status === 'done' && before.slurm?.jobId === slurm.jobId) return 0;

  let current: ExecutingJob | undefined;
  let stoppedBy: string | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    stoppedBy ??= sig;
    current?.interrupt(`SLURM job ${slurm.jobId} was sent ${sig} (scancel, its time limit or preemption)`);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    const reason = v.reason ?? 'submitted to SLURM';
    // The same life cycle as a job run here; only the process running it differs.
    const executor = localExecutor(!!v.checksum);
    for (let attempt = 1; ; attempt++) {
      current = executor.start(job, { reason, attempt, env, recordExtra: { slurm } });
      const out = await current.outcome;
      if (out.status === 'done') {
        // Temporary outputs upstream go once every consumer is done, as after a local run.
        jobSucceeded(job, (j) => readState(j.stateDir).jobs[j.stage.name]?.status === 'done');
        return 0;
      }
      if (out.status === 'interrupted' || stoppedBy) return 143;
      io.err(`ephys-make: ${job.recording.name} ${stage} failed: ${out.message}\n`);
      if (attempt > job.stage.retries) return 1;
      // As the local scheduler: 1 s, 2 s, 4 s... between attempts, at most 30 s.
      await new Promise((r) => setTimeout(r, Math.min(30_000, 1000 * 2 ** (attempt - 1))));
      if (stoppedBy) return 143;
    }
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

/** The job from pipeline.yaml, as any command builds it; an exit status when it cannot be built. */
async function planJob(v: { file?: string; root?: string; dir: string; set?: string[]; checksum?: boolean }, stage: string, io: Io): Promise<Job | number> {
  const [{ openPlanner }, { default: fg }] = await Promise.all([import('../engine/planner.js'), import('fast-glob')]);
  const opened = openPlanner({ file: v.file, cwd: io.cwd, root: v.root, targets: [stage], sets: v.set ?? [], checksum: !!v.checksum });
  if (!opened.ok) return printDiagnostics(io, opened.diagnostics);
  const planner = opened.value;
  // The folder is a path, never a pattern: brackets in a folder name are the folder's.
  const found = planner.discover([fg.isDynamicPattern(v.dir) ? fg.escapePath(v.dir) : v.dir]);
  if (!found.ok) return printDiagnostics(io, found.diagnostics);
  const recording = found.value.find((r) => r.dir === v.dir) ?? (found.value.length === 1 ? found.value[0] : undefined);
  if (!recording) { io.err(`ephys-make run-job: no recording at ${v.dir}\n`); return 2; }
  const rp = planner.jobsOf(recording);
  if (!rp.ok) return printDiagnostics(io, rp.diagnostics);
  const job = rp.value.jobs.find((j) => j.stage.name === stage);
  if (!job) { io.err(`ephys-make run-job: no stage '${stage}' in ${planner.pipeline.file}\n`); return 2; }
  return job;
}
