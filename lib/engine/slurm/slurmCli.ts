/**
 * Calling SLURM's client programs (sbatch, squeue, scontrol, scancel, sacct). zx's `$` runs a
 * shell; every value is interpolated as an array, which zx quotes word by word, so a folder named
 * `it's "raw" data` reaches sbatch as one argument and nothing in it is ever read by the shell.
 * zx loads on the first call: only SLURM work pays for it.
 */
export type SlurmProgram = 'sbatch' | 'squeue' | 'scontrol' | 'scancel' | 'sacct';

export type SlurmCall =
  | { ok: true; stdout: string }
  | { ok: false; stdout: string; stderr: string; code: number | null; missing: boolean };

type Zx = typeof import('zx/core');
let zx: Promise<Zx> | undefined;

export async function callSlurm(program: SlurmProgram, args: string[], env: NodeJS.ProcessEnv): Promise<SlurmCall> {
  zx ??= import('zx/core');
  const { $ } = await zx;
  // No `set -euo pipefail;` prefix: one simple command, which bash then execs in place of itself.
  // stdin not a pipe: bash run with a socket as stdin takes itself for a remote shell and sources
  // ~/.bashrc (a user's module loads, pyenv...) on every call.
  const out = await $({ env, quiet: true, verbose: false, nothrow: true, prefix: '', postfix: '', stdio: ['ignore', 'pipe', 'pipe'] })`${[program, ...args]}`;
  if (out.exitCode === 0) return { ok: true, stdout: out.stdout };
  const stderr = out.stderr.trim() || (out.exitCode === null ? String((out as { message?: string }).message ?? 'could not start a shell') : '');
  // 127: the shell found no such program; no exit status at all: no shell to start it.
  return { ok: false, stdout: out.stdout, stderr, code: out.exitCode, missing: out.exitCode === 127 || out.exitCode === null };
}

/** The first line of a failed call's error, for messages. */
export function callError(program: SlurmProgram, call: Extract<SlurmCall, { ok: false }>): string {
  if (call.missing) return `${program} not found: is this a SLURM cluster's login node (or is SLURM's bin folder on PATH)?`;
  const first = call.stderr.split('\n').find((l) => l.trim()) ?? `exit status ${call.code}`;
  return `${program}: ${first}`;
}
