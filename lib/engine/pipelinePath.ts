/** Where pipeline.yaml is: `-f FILE`, else ./pipeline.yaml. Kept apart so a no-op run can ask without loading the config. */
import path from 'node:path';

export function pipelinePath(opts: { file?: string; cwd: string }): string {
  return path.resolve(opts.cwd, opts.file ?? 'pipeline.yaml');
}
