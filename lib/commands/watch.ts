import type { CliOptions } from '../cli.js';
import type { Io } from '../io.js';

export async function watch(_o: CliOptions, io: Io): Promise<number> {
  io.err('ephys-make: watch is not available yet\n');
  return 2;
}
