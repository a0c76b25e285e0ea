/** A program as the shell finds it: a path as given, else the first executable of that name on PATH. */
import fs from 'node:fs';
import path from 'node:path';

export function findProgram(program: string, env: NodeJS.ProcessEnv): string | undefined {
  if (program.includes('/')) return fs.existsSync(program) ? program : undefined;
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, program);
    try { fs.accessSync(p, fs.constants.X_OK); return p; } catch { /* next */ }
  }
  return undefined;
}
