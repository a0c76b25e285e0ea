/**
 * The `executor:` / `slurm:` keys of pipeline.yaml, checked beyond what the schema says: a time
 * limit or a memory size sbatch would refuse is a config error here, with its place, not a
 * rejected submission later.
 */
import type { Diagnostic, SourceSpan } from '../../base/diagnostic.js';
import { splitWords } from '../template.js';

export type ExecutorKind = 'local' | 'slurm';

/** sbatch settings of every job. */
export interface SlurmDefaults {
  partition?: string;
  account?: string;
  qos?: string;
  extraArgs: string[];
}

/** One stage's sbatch settings; `gpus` undefined means: as many as its `gpu` pool asks for. */
export interface StageSlurm {
  cpus?: number;
  /** As sbatch's --mem takes it: megabytes, or a number with K, M, G or T. */
  mem?: string;
  /** As sbatch's --time takes it. */
  time?: string;
  gpus?: number;
  partition?: string;
  extraArgs: string[];
}

type Place = (segments: string[], key: boolean) => SourceSpan;

const memPattern = /^[1-9][0-9]*[KMGT]?$/;
const timePattern = /^(?:[0-9]+-[0-9]+(?::[0-9]+){0,2}|[0-9]+(?::[0-9]+){0,2})$/;

function words(value: unknown, at: string[], place: Place, diags: Diagnostic[]): string[] {
  if (value === undefined) return [];
  if (Array.isArray(value)) return value as string[];
  const split = splitWords(String(value));
  if (split.ok) return split.value;
  diags.push({ ...place(at, false), message: `${at.join('.')}: ${split.error}` });
  return [];
}

export function parseSlurmDefaults(raw: any, place: Place, diags: Diagnostic[]): SlurmDefaults {
  const s = raw ?? {};
  return { partition: s.partition, account: s.account, qos: s.qos, extraArgs: words(s.extra_args, ['slurm', 'extra_args'], place, diags) };
}

export function parseStageSlurm(stage: string, raw: any, place: Place, diags: Diagnostic[]): StageSlurm {
  const s = raw ?? {};
  const at = (key: string) => ['stages', stage, 'slurm', key];
  let mem: string | undefined;
  if (s.mem !== undefined) {
    mem = String(s.mem);
    if (!memPattern.test(mem)) {
      diags.push({ ...place(at('mem'), false), message: `stages.${stage}.slurm.mem must be megabytes or a whole number with K, M, G or T (e.g. 16G, 4000), not ${JSON.stringify(s.mem)}` });
    }
  }
  let time: string | undefined;
  if (s.time !== undefined) {
    time = String(s.time);
    if (!timePattern.test(time)) {
      diags.push({ ...place(at('time'), false), message: `stages.${stage}.slurm.time must be a time limit as sbatch takes it (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS, e.g. 4:00:00), not ${JSON.stringify(s.time)}` });
    }
  }
  return { cpus: s.cpus, mem, time, gpus: s.gpus, partition: s.partition, extraArgs: words(s.extra_args, at('extra_args'), place, diags) };
}
