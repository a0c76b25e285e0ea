/**
 * Typed values read out of a built-in stage's input JSON, each mistake a StageError naming the
 * key as the user wrote it (`input JSON: ephys_params.num_channels must be a number, got "x"`).
 */
import { StageError, type InputJson } from './stage.js';

/** The object under `name`, or {} when absent, so every key falls back to its default. */
export function inputSection(input: InputJson, name: string): Record<string, any> {
  const s = input[name];
  if (s === undefined) return {};
  if (typeof s !== 'object' || s === null || Array.isArray(s)) throw new StageError(`input JSON: '${name}' must be an object`);
  return s;
}

/** `s[key]`, or `def` when absent; with no default the key is required. */
export function inputNumber(s: Record<string, any>, where: string, key: string, def?: number, integer = false): number {
  const v = s[key] ?? def;
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new StageError(`input JSON: ${where}.${key} must be ${integer ? 'an integer' : 'a number'}${v === undefined ? ' (missing)' : `, got ${JSON.stringify(v)}`}`);
  }
  return v;
}

/** A required, non-empty path. */
export function inputPath(s: Record<string, any>, where: string, key: string): string {
  const v = s[key];
  if (typeof v !== 'string' || v === '') throw new StageError(`input JSON: ${where}.${key} must be a path${v === undefined ? ' (missing)' : `, got ${JSON.stringify(v)}`}`);
  return v;
}

/** directories.kilosort_output_directory, which the Kilosort-reading stages require. */
export function inputKilosortDir(input: InputJson): string {
  const dir = input.directories?.kilosort_output_directory;
  if (typeof dir !== 'string' || dir === '') {
    throw new StageError('directories.kilosort_output_directory: missing; expected the Kilosort output folder');
  }
  return dir;
}
