/**
 * A job as it was planned at submission, carried to its node in the SLURM job's environment
 * (`EPHYS_MAKE_JOB_SPEC`). With it the node runs the job without parsing pipeline.yaml, finding
 * recordings or building input JSONs again (most of a trivial job's cost), and runs exactly what
 * was planned, as a local run does. Without it (a site exporting no environment, a spec from
 * another version) `run-job` plans the job from pipeline.yaml instead.
 */
import type { Job } from '../job.js';

export const jobSpecVariable = 'EPHYS_MAKE_JOB_SPEC';
const specVersion = 1;
/** An environment string longer than this is refused by exec (MAX_ARG_STRLEN is 128 KiB). */
const maxSpecBytes = 100_000;

interface Spec {
  v: number;
  job: Omit<Job, 'input' | 'deps' | 'consumers'> & { input: { json: Job['input']['json']; hash: string; schemaFile?: string } };
  /** Input-JSON values the job's life cycle looks up by name (the `space:` preflight's file). */
  lookups: Record<string, string | undefined>;
  /** Upstream jobs with temporary outputs, and who consumes them: removed once all are done. */
  temps: Array<{ stage: Job['stage']; outputs: string[]; stateDir: string; consumerStages: number; consumers: Array<{ id: string; stage: string; stateDir: string }> }>;
}

/** The spec of a job, or undefined when it is too large for an environment variable. */
export function jobSpecOf(job: Job): string | undefined {
  let parts: { input: Job['input']; rest: Omit<Job, 'input' | 'deps' | 'consumers'> };
  try {
    // Field by field: a job may be a class instance whose values are getters. The input JSON may
    // be built only now; one that cannot be is the node's to report.
    parts = {
      input: job.input,
      rest: {
        id: job.id, stage: job.stage, recording: job.recording, stateDir: job.stateDir, jobDir: job.jobDir,
        inputJsonPath: job.inputJsonPath, outputJsonPath: job.outputJsonPath, logPath: job.logPath,
        inputHash: job.inputHash, layersKey: job.layersKey, fromRecord: job.fromRecord, inputs: job.inputs, outputs: job.outputs,
        appendsTo: job.appendsTo, inPlace: job.inPlace, argv: job.argv, definition: job.definition, consumerStages: job.consumerStages, ownFiles: job.ownFiles,
      },
    };
  } catch {
    return undefined;
  }
  const { input, rest } = parts;
  const lookups: Spec['lookups'] = {};
  const space = job.stage.space;
  if (space && 'of' in space) lookups[space.of] = input.lookup(space.of);
  const spec: Spec = {
    v: specVersion,
    job: { ...rest, input: { json: input.json, hash: input.hash, schemaFile: input.schemaFile } },
    lookups,
    temps: job.deps.filter((d) => d.stage.temp).map((d) => ({
      stage: d.stage, outputs: d.outputs, stateDir: d.stateDir, consumerStages: d.consumerStages,
      consumers: d.consumers.map((c) => ({ id: c.id, stage: c.stage.name, stateDir: c.stateDir })),
    })),
  };
  const text = JSON.stringify(spec);
  return Buffer.byteLength(text) <= maxSpecBytes ? text : undefined;
}

/** The job of a spec, if it is one this version wrote for this recording's stage. */
export function jobFromSpec(text: string | undefined, recordingDir: string, stage: string): Job | undefined {
  if (!text) return undefined;
  let spec: Spec;
  try { spec = JSON.parse(text); } catch { return undefined; }
  if (spec?.v !== specVersion || spec.job?.recording?.dir !== recordingDir || spec.job.stage?.name !== stage) return undefined;
  const lookups = spec.lookups ?? {};
  const job: Job = {
    ...spec.job,
    input: { ...spec.job.input, lookup: (name) => lookups[name] },
    deps: [],
    consumers: [],
  };
  // Only what removing temporary outputs reads of them: their stage, outputs, records and consumers.
  for (const t of spec.temps ?? []) {
    const producer = { id: `${job.recording.name}:${t.stage.name}`, stage: t.stage, outputs: t.outputs, stateDir: t.stateDir, consumerStages: t.consumerStages, deps: [], consumers: [] } as unknown as Job;
    producer.consumers = t.consumers.map((c) => (c.id === job.id ? job : { id: c.id, stage: { name: c.stage }, stateDir: c.stateDir } as unknown as Job));
    job.deps.push(producer);
  }
  return job;
}
