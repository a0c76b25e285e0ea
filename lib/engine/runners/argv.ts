/** The argument vector of each runner kind. */
import path from 'node:path';
import type { Job } from '../job.js';
import { packageRoot } from '../../base/paths.js';
import { splitWords } from '../template.js';
import { shippedDriverOf } from './shippedDriver.js';

export const pythonModulePrefix = 'ecephys_spike_sorting.modules.';

/** `python: conda:ENV` runs in a conda env; anything else is an interpreter (a venv's bin/python). */
export function interpreterArgv(python: string): string[] {
  if (python.startsWith('conda:')) return ['conda', 'run', '--no-capture-output', '-n', python.slice(6), 'python'];
  const words = splitWords(python);
  return words.ok && words.value.length ? words.value : [python];
}

export function argvFor(job: Job): string[] {
  const s = job.stage;
  switch (s.run) {
    case 'command':
      return job.argv ?? [];
    case 'python-module': {
      const driver = shippedDriverOf(s.module);
      return [...interpreterArgv(job.definition.python!), ...(driver ? [driver.path] : ['-m', pythonModulePrefix + s.module]), '--input_json', job.inputJsonPath, '--output_json', job.outputJsonPath];
    }
    case 'builtin':
      return [process.execPath, path.join(packageRoot, 'dist', 'lib', 'builtin', 'host.js'), s.module, '--input_json', job.inputJsonPath, '--output_json', job.outputJsonPath];
  }
}

/** Modules report through output.json; a run that exits 0 without one did not finish its work. */
export function expectsOutputJson(job: Job): boolean {
  return job.stage.run !== 'command';
}
