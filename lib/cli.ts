/**
 * argv -> a command. `main` returns the exit status: 0 done or nothing to do, 1 a job failed,
 * 2 usage or config error, 130 interrupted. Subcommands load lazily, so `status` never pays
 * for what `watch` imports.
 */
import { processIo, type Io } from './base/io.js';
import { parseCli, usageFor } from './commands/options.js';
import { invocation } from './commands/invocation.js';
import { isSystemError } from './base/systemError.js';

export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  const parsed = parseCli(argv);
  if (!parsed.ok) {
    io.err(`ephys-make: ${parsed.message}\n\n${usageFor(invocation(io))}`);
    return 2;
  }
  const o = parsed.options;
  try {
    switch (o.command) {
      case 'help': return await (await import('./commands/help.js')).help(o, io);
      case 'version': { const { versions } = await import('./base/version.js'); io.out(`ephys-make ${versions()['ephys-make']}\n`); return 0; }
      case 'run': return await (await import('./commands/run.js')).run(o, io);
      case 'status': return await (await import('./commands/status.js')).status(o, io);
      case 'graph': return await (await import('./commands/graph.js')).graph(o, io);
      case 'clean': return await (await import('./commands/clean.js')).clean(o, io);
      case 'input-json': return await (await import('./commands/inputJson.js')).inputJson(o, io);
      case 'watch': return await (await import('./commands/watch.js')).watch(o, io);
      case 'serve': return await (await import('./commands/serve.js')).serve(o, io);
      case 'report': return await (await import('./commands/report.js')).report(o, io);
      case 'init': return await (await import('./commands/init.js')).init(o, io);
      case 'verify-backup': return await (await import('./commands/verifyBackup.js')).verifyBackup(o, io);
      case 'cancel': return await (await import('./commands/cancel.js')).cancel(o, io);
      case 'run-job': return await (await import('./commands/runJob.js')).runJob(o.rest, io);
      case 'doctor': return await (await import('./commands/doctor.js')).doctor(o, io);
      case 'demo': return await (await import('./commands/demo.js')).demo(o, io);
      case 'synth': return await (await import('./commands/synth.js')).runSynth(o.rest, { out: io.out, err: io.err });
      default: io.err(`ephys-make: unknown command ${o.command}\n`); return 2;
    }
  } catch (err: any) {
    // The system said no (a full disk, a read-only folder, a permission): its message names the
    // path and the reason; that is the user's to fix, not a bug of ours.
    if (isSystemError(err)) {
      io.err(`ephys-make: ${err.message}\n`);
      return 1;
    }
    io.err(`internal error: ${err?.stack ?? err}\n`);
    return 70;
  }
}
