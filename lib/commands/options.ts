/** The command line's options, shared by `cli.ts` and every command below it. */
import { parseArgs } from 'node:util';
import type { Io } from '../base/io.js';
import { foldRepeats, formatDiagnostic, type Diagnostic } from '../base/diagnostic.js';

export interface CliOptions {
  command: string;
  targets: string[];
  file?: string;
  root?: string;
  dirs: string[];
  jobs: number;
  dryRun: boolean;
  explain: boolean;
  always: boolean;
  force: string[];
  keepGoing: boolean;
  sets: string[];
  checksum: boolean;
  mermaid: boolean;
  shuffle: boolean;
  wait: boolean;
  once: boolean;
  out?: string;
  /** serve, watch --serve: where the page listens; report, serve: which units pass. */
  port?: number;
  host?: string;
  pass?: string;
  serve: boolean;
  rest: string[];
}

export const usage = `usage: ephys-make [all | STAGE...] [options]
       ephys-make status | graph [--mermaid] | watch [TARGET...] [--once] | clean [STAGE...]
       ephys-make serve [--port N] [--host H] | watch --serve | report [-o FILE]
       ephys-make input-json STAGE --dir D | doctor | demo | synth --out DIR

options:
  -f, --file FILE     pipeline file (default ./pipeline.yaml)
      --root DIR      search this folder for recordings instead of recordings.root
      --dir D         only recordings in D (a folder or a glob; repeatable)
  -j, --jobs N        run up to N jobs at once (default 1)
  -n, --dry-run       print what would run and why, run nothing
      --explain       print why each job runs
  -B, --always-make   treat every job as stale
      --force STAGE   treat STAGE's jobs as stale (repeatable)
  -k, --keep-going    after a failure, go on with jobs that do not depend on it
      --set S.K=V     set input-JSON value K of stage S (or params.SECTION.K); repeatable
      --checksum      compare file contents instead of size/mtime/inode
      --no-wait       skip recordings locked by another ephys-make instead of waiting
      --mermaid       graph: print Mermaid instead of DOT
      --once          watch: process what is ready now, then exit
      --serve         watch: serve the live page beside the watch
      --port N        serve: port of the page (default 8765; 0 picks a free one)
      --host H        serve: address to listen on (default 127.0.0.1)
      --pass RULES    serve, report: units that pass (default isi_viol<0.5,amplitude_cutoff<0.1,presence_ratio>0.9)
  -o, --out FILE      report: where to write it (default report.html)
  -h, --help          this text
`;

const subcommands = new Set(['status', 'graph', 'watch', 'clean', 'demo', 'synth', 'input-json', 'doctor', 'run', 'serve', 'report']);

export function parseCli(argv: string[]): { ok: true; options: CliOptions } | { ok: false; message: string } {
  if (argv[0] === 'synth') return { ok: true, options: { ...defaults(), command: 'synth', rest: argv.slice(1) } };
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        file: { type: 'string', short: 'f' },
        root: { type: 'string' },
        dir: { type: 'string', multiple: true },
        jobs: { type: 'string', short: 'j' },
        'dry-run': { type: 'boolean', short: 'n' },
        explain: { type: 'boolean' },
        'always-make': { type: 'boolean', short: 'B' },
        force: { type: 'string', multiple: true },
        'keep-going': { type: 'boolean', short: 'k' },
        set: { type: 'string', multiple: true },
        checksum: { type: 'boolean' },
        mermaid: { type: 'boolean' },
        shuffle: { type: 'boolean' },
        'no-wait': { type: 'boolean' },
        once: { type: 'boolean' },
        out: { type: 'string', short: 'o' },
        port: { type: 'string' },
        host: { type: 'string' },
        pass: { type: 'string' },
        serve: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    });
  } catch (err: any) {
    return { ok: false, message: err.message };
  }
  const v = parsed.values;
  if (v.help) return { ok: true, options: { ...defaults(), command: 'help' } };
  if (v.version) return { ok: true, options: { ...defaults(), command: 'version' } };
  let positionals = parsed.positionals;
  let command = 'run';
  if (positionals.length && subcommands.has(positionals[0])) {
    command = positionals[0] === 'run' ? 'run' : positionals[0];
    positionals = positionals.slice(1);
  }
  let jobs = 1;
  if (v.jobs !== undefined) {
    jobs = Number(v.jobs);
    if (!Number.isInteger(jobs) || jobs < 1) return { ok: false, message: `-j ${v.jobs}: expected a whole number of jobs, 1 or more` };
  }
  let port: number | undefined;
  if (v.port !== undefined) {
    port = Number(v.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) return { ok: false, message: `--port ${v.port}: expected a port number, 0 to 65535` };
  }
  return {
    ok: true,
    options: {
      command,
      targets: positionals,
      file: v.file,
      root: v.root,
      dirs: v.dir ?? [],
      jobs,
      dryRun: !!v['dry-run'],
      explain: !!v.explain,
      always: !!v['always-make'],
      force: v.force ?? [],
      keepGoing: !!v['keep-going'],
      sets: v.set ?? [],
      checksum: !!v.checksum,
      mermaid: !!v.mermaid,
      shuffle: !!v.shuffle,
      wait: !v['no-wait'],
      once: !!v.once,
      out: v.out,
      port,
      host: v.host,
      pass: v.pass,
      serve: !!v.serve,
      rest: [],
    },
  };
}

function defaults(): CliOptions {
  return { command: 'run', targets: [], dirs: [], jobs: 1, dryRun: false, explain: false, always: false, force: [], keepGoing: false, sets: [], checksum: false, mermaid: false, shuffle: false, wait: true, once: false, serve: false, rest: [] };
}

export function printDiagnostics(io: Io, diags: Diagnostic[]): number {
  for (const d of foldRepeats(diags)) io.err(formatDiagnostic(d, io.cwd));
  return 2;
}

export function engineOptions(o: CliOptions, io: Io) {
  return {
    file: o.file, cwd: io.cwd, root: o.root, dirs: o.dirs, targets: o.targets, sets: o.sets,
    checksum: o.checksum, forceAll: o.always, forceStages: o.force,
  };
}
