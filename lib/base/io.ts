/** Effects that enter through one object, so commands can be driven and observed in-process. */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  env: NodeJS.ProcessEnv;
  cwd: string;
  isTTY: boolean;
}

/**
 * The reader of our output went away (`ephys-make status | head`): stop writing, and stop the way
 * SIGTERM stops us (a run ends its jobs cleanly, records them interrupted and frees its locks);
 * a command with nothing to clean up just ends, without a stack trace.
 */
let readerGone = false;
function onOutputError(err: NodeJS.ErrnoException): void {
  if (err.code !== 'EPIPE') throw err;
  if (readerGone) return;
  readerGone = true;
  process.kill(process.pid, 'SIGTERM');
}

export function processIo(): Io {
  if (!process.stdout.listenerCount('error')) process.stdout.on('error', onOutputError);
  if (!process.stderr.listenerCount('error')) process.stderr.on('error', onOutputError);
  return {
    out: (t) => { if (!readerGone) process.stdout.write(t); },
    err: (t) => { if (!readerGone) process.stderr.write(t); },
    env: process.env,
    cwd: process.cwd(),
    isTTY: !!process.stdout.isTTY && !process.env.CI,
  };
}
