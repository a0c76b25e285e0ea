/**
 * A one-node SLURM cluster for tests: munged, slurmctld and slurmd started as root with every
 * piece of state (munge key and socket, slurm.conf, spool, logs, fake GPU device files) in one temp
 * folder, on free ports, so two test files can each have their own. Stopped by pid when the test
 * process exits.
 *
 * Settings that matter (see the one-node notes): `batch_sched_delay=0` (else jobs start every few
 * seconds), `DefMemPerCPU` (else each job takes the node's whole memory and jobs run one at a time),
 * `DependencyParameters=kill_invalid_depend` (else the afterok child of a failed job pends forever),
 * and a gres whose `File=` names real character devices (else the node registers no GPUs).
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';

export interface SlurmCluster {
  dir: string;
  conf: string;
  /** What every SLURM client (and ephys-make) needs in its environment. */
  env: Record<string, string>;
  host: string;
  cpus: number;
  gpus: number;
  /** The cluster's own completion log (JobCompType=jobcomp/filetxt). */
  jobcompFile: string;
  /** Run a client command (squeue, scontrol, sbatch...) against this cluster. */
  run(program: string, args: string[]): string;
  stop(): void;
}

const binaries = ['/usr/sbin/munged', '/usr/sbin/slurmctld', '/usr/sbin/slurmd', '/usr/bin/sbatch', '/usr/bin/squeue', '/usr/bin/scontrol', '/usr/bin/scancel', '/usr/bin/sinfo'];

/** Why a cluster cannot be started here, or undefined when it can be tried. */
export function slurmMissing(): string | undefined {
  const missing = binaries.filter((b) => !fs.existsSync(b));
  if (missing.length) return `SLURM tests need Debian's slurmctld slurmd slurm-client munge (missing ${missing.map((b) => path.basename(b)).join(', ')}; .ci/run installs them)`;
  if (process.getuid?.() !== 0) return 'SLURM tests start slurmctld and slurmd, which needs root';
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Two consecutive free ports: slurmctld and slurmd each need one. */
async function twoPorts(): Promise<[number, number]> {
  for (let i = 0; i < 20; i++) {
    const a = await freePort();
    if (a >= 65535) continue;
    const ok = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.on('error', () => resolve(false));
      srv.listen(a + 1, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (ok) return [a, a + 1];
  }
  throw new Error('no two free consecutive ports for slurmctld and slurmd');
}

function readPid(file: string): number | undefined {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim());
    return n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Wait (synchronously: this runs at process exit) until a process has ended; a zombie counts as ended. */
function waitGone(pid: number, ms: number): void {
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return;
    } catch {
      return;
    }
    Atomics.wait(sleeper, 0, 0, 20);
  }
}

function sleepMs(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface ClusterOptions {
  /** CPUs the node declares (more than the machine has is fine for trivial jobs). */
  cpus?: number;
  gpus?: number;
}

export async function startCluster(opts: ClusterOptions = {}): Promise<SlurmCluster> {
  const host = os.hostname().split('.')[0];
  const cpus = opts.cpus ?? 8;
  const gpus = opts.gpus ?? 2;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ephys-make-slurm-'));
  // munged checks that every folder above its socket is searchable by all and its key folder writable by none but it.
  fs.chmodSync(dir, 0o755);
  const mungeDir = path.join(dir, 'munge');
  fs.mkdirSync(mungeDir, { mode: 0o755 });
  const key = path.join(mungeDir, 'munge.key');
  fs.writeFileSync(key, crypto.randomBytes(1024), { mode: 0o400 });
  const ids = (name: string) => Number(execFileSync('id', ['-u', name]).toString().trim());
  const mungeUid = ids('munge');
  const mungeGid = Number(execFileSync('id', ['-g', 'munge']).toString().trim());
  fs.chownSync(mungeDir, mungeUid, mungeGid);
  fs.chownSync(key, mungeUid, mungeGid);
  const socket = path.join(mungeDir, 'munge.socket');
  for (const d of ['state', 'spool', 'log']) fs.mkdirSync(path.join(dir, d));
  const gpuFiles = Array.from({ length: gpus }, (_, k) => path.join(dir, `gpu${k}`));
  // SLURM checks a gres against device files: character devices made for the purpose (as /dev/null).
  for (const f of gpuFiles) execFileSync('mknod', [f, 'c', '1', '3']);
  const [ctldPort, slurmdPort] = await twoPorts();
  const memMb = 16000;
  const conf = path.join(dir, 'slurm.conf');
  const jobcompFile = path.join(dir, 'log', 'jobcomp.txt');
  fs.writeFileSync(conf, [
    'ClusterName=ephysmaketest',
    `SlurmctldHost=${host}`,
    'SlurmUser=root',
    'SlurmdUser=root',
    'AuthType=auth/munge',
    `AuthInfo=socket=${socket}`,
    'CredType=cred/munge',
    `StateSaveLocation=${dir}/state`,
    `SlurmdSpoolDir=${dir}/spool`,
    `SlurmctldPidFile=${dir}/slurmctld.pid`,
    `SlurmdPidFile=${dir}/slurmd.pid`,
    `SlurmctldLogFile=${dir}/log/slurmctld.log`,
    `SlurmdLogFile=${dir}/log/slurmd.log`,
    `SlurmctldPort=${ctldPort}`,
    `SlurmdPort=${slurmdPort}`,
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_Core_Memory',
    'DefMemPerCPU=100',
    'SchedulerType=sched/backfill',
    'SchedulerParameters=batch_sched_delay=0',
    'DependencyParameters=kill_invalid_depend',
    // The node declares more CPUs than the machine has: test jobs are tiny.
    'SlurmdParameters=config_overrides',
    'JobCompType=jobcomp/filetxt',
    `JobCompLoc=${jobcompFile}`,
    'JobAcctGatherType=jobacct_gather/none',
    'MinJobAge=3600',
    'MpiDefault=none',
    'ReturnToService=2',
    'KillWait=2',
    'GresTypes=gpu',
    `NodeName=${host} CPUs=${cpus} RealMemory=${memMb} Gres=gpu:${gpus} State=UNKNOWN`,
    `PartitionName=main Nodes=${host} Default=YES MaxTime=INFINITE State=UP`,
    '',
  ].join('\n'));
  fs.writeFileSync(path.join(dir, 'gres.conf'), gpuFiles.map((f) => `Name=gpu File=${f}\n`).join(''));
  const env = { SLURM_CONF: conf };
  const clientEnv = { ...process.env, ...env };

  const stop = () => {
    // Jobs first: a job step outlives slurmd (no cgroups here), and a test may end with one waiting.
    spawnSync('scancel', ['--user', os.userInfo().username], { env: clientEnv, timeout: 10_000 });
    for (let i = 0; i < 50; i++) {
      const q = spawnSync('squeue', ['--noheader', '--format=%i'], { env: clientEnv, encoding: 'utf8', timeout: 10_000 });
      if (q.status !== 0 || !q.stdout.trim()) break;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
    // slurmd first (it reports to slurmctld), then slurmctld, then munged; each gone before the next.
    for (const f of [path.join(dir, 'slurmd.pid'), path.join(dir, 'slurmctld.pid'), path.join(mungeDir, 'munged.pid')]) {
      const pid = readPid(f);
      if (!pid) continue;
      try { process.kill(pid, 'SIGTERM'); } catch { continue; }
      waitGone(pid, 10_000);
    }
  };
  let stopped = false;
  const stopOnce = () => {
    if (stopped) return;
    stopped = true;
    stop();
    if (!process.env.KEEP_TEMP) {
      try { fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 }); } catch { /* a daemon's last write; the folder is in the temp dir */ }
    }
  };
  process.on('exit', stopOnce);
  // A test file stopped by a signal still stops its cluster.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { stopOnce(); process.exit(128 + (sig === 'SIGINT' ? 2 : 15)); });

  const logs = () => ['slurmctld.log', 'slurmd.log'].map((f) => {
    try { return `--- ${f}\n${fs.readFileSync(path.join(dir, 'log', f), 'utf8').split('\n').slice(-15).join('\n')}`; } catch { return ''; }
  }).join('\n') + (() => { try { return `--- munged.log\n${fs.readFileSync(path.join(mungeDir, 'munged.log'), 'utf8').split('\n').slice(-5).join('\n')}`; } catch { return ''; } })();
  const daemon = (argv: string[]) => {
    const r = spawnSync(argv[0], argv.slice(1), { env: clientEnv, encoding: 'utf8' });
    if (r.status !== 0) { stopOnce(); throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}\n${logs()}`); }
  };
  daemon(['runuser', '-u', 'munge', '--', '/usr/sbin/munged', `--socket=${socket}`, `--key-file=${key}`,
    `--pid-file=${path.join(mungeDir, 'munged.pid')}`, `--log-file=${path.join(mungeDir, 'munged.log')}`, `--seed-file=${path.join(mungeDir, 'munged.seed')}`]);
  daemon(['/usr/sbin/slurmctld', '-f', conf]);
  daemon(['/usr/sbin/slurmd', '-f', conf]);

  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = spawnSync('sinfo', ['-h', '-o', '%T'], { env: clientEnv, encoding: 'utf8' });
    const state = r.stdout?.trim();
    if (r.status === 0 && state === 'idle') break;
    if (Date.now() > deadline) { stopOnce(); throw new Error(`the test cluster did not become idle (sinfo: ${state || r.stderr})\n${logs()}`); }
    await sleepMs(100);
  }
  return {
    dir, conf, env, host, cpus, gpus, jobcompFile,
    run(program, args) {
      const r = spawnSync(program, args, { env: clientEnv, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${program} ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
      return r.stdout;
    },
    stop: stopOnce,
  };
}

/**
 * Start a cluster for a test file, or say why not: a machine without SLURM (or not root) gets
 * counted, printed skips; CI installs SLURM and runs as root, so there the tests run.
 */
export async function clusterOrReason(opts?: ClusterOptions): Promise<{ cluster?: SlurmCluster; reason?: string }> {
  const missing = slurmMissing();
  // CI installs SLURM: there a cluster that cannot start is a failure, not a skip.
  const required = !!process.env.EPHYS_MAKE_REQUIRE_SLURM;
  if (missing && !required) return { reason: missing };
  try {
    if (missing) throw new Error(missing);
    return { cluster: await startCluster(opts) };
  } catch (err: any) {
    if (required) throw err;
    return { reason: `the one-node test cluster did not start: ${String(err.message).split('\n')[0]}` };
  }
}
