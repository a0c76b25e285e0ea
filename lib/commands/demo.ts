import type { CliOptions } from '../cli.js';
import type { Io } from '../io.js';

export async function demo(_o: CliOptions, io: Io): Promise<number> {
  io.err('ephys-make: demo is not available yet\n');
  return 2;
}
