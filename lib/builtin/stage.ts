/**
 * The contract between the engine and a built-in stage (`stages/NAME/index.ts`).
 *
 * A built-in reads the same input JSON as the Allen module it stands in for and writes the same
 * files; it runs in its own child process (`lib/builtin/host.ts`), so it can be stopped as
 * a process group like any other job and may use worker threads for the second core.
 */

export type InputJson = Record<string, any>;

export interface BuiltinContext {
  /** Report progress on long work; `unit` says what `done`/`total` count. Cheap to call often. */
  progress(done: number, total: number, unit?: 'bytes' | 'items'): void;
  /** One line for the job's log.txt. */
  log(message: string): void;
  /** Aborted when the job is being stopped. */
  signal: AbortSignal;
}

export interface BuiltinStage {
  /** Part of the stage definition hash: bump it when outputs would change. */
  version: string;
  /** Returns the output JSON (the host adds `input_parameters`, as argschema modules do). */
  run(input: InputJson, ctx: BuiltinContext): Promise<Record<string, unknown>>;
}

export { StageError } from '../base/stageError.js';
