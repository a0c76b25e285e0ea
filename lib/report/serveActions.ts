/**
 * The page's actions, through the same engine, locks and records as the command line:
 * - rerun a job: the real CLI as a child process, `ephys-make STAGE --dir REC` (its stale
 *   prerequisites come with it, as on the command line);
 * - force a stage for one recording: the same with `--force STAGE`;
 * - stop a running job: SIGTERM to the job's own process group as its record names it, after
 *   checking that process is still the one the record describes. The ephys-make that runs the job
 *   then records the failure, releases the lock and goes on as it would after any failure.
 */
import { spawn } from 'node:child_process';
import { binPath } from '../base/paths.js';
import { hostName, isAlive, killGroup } from '../base/processInfo.js';
import { readState } from '../engine/record.js';
import type { Board } from './board.js';

export type ActionKind = 'rerun' | 'force' | 'stop';

export interface ActionState {
  id: string;
  action: ActionKind;
  rec: string;
  stage: string;
  state: 'running' | 'done' | 'failed';
  command?: string;
  exitCode?: number | null;
  /** The last lines the command printed (or what the stop did). */
  output: string;
}

export type ActionResult = { ok: true; id: string } | { ok: false; status: number; message: string };

const outputKeptChars = 16 * 1024;

export class Actions {
  private seq = 0;
  private list: ActionState[] = [];
  private children = new Set<ReturnType<typeof spawn>>();

  /** `cliArgs`: options every CLI call repeats so it sees the same pipeline (`-f`, `--root`, `--set`...). */
  constructor(private board: Board, private cliArgs: string[], private env: NodeJS.ProcessEnv, private cwd: string, private emit: (a: ActionState) => void) {}

  recent(): ActionState[] {
    return this.list.slice(-20);
  }

  start(body: { action?: string; rec?: string; stage?: string }): ActionResult {
    const { action, rec, stage } = body;
    if (action !== 'rerun' && action !== 'force' && action !== 'stop') return { ok: false, status: 400, message: `unknown action '${action}' (rerun, force or stop)` };
    if (typeof rec !== 'string' || typeof stage !== 'string') return { ok: false, status: 400, message: 'an action names a recording (rec) and a stage' };
    const job = this.board.job(rec, stage);
    const recording = this.board.recording(rec);
    if (!job || !recording) return { ok: false, status: 404, message: `no job ${stage} for recording ${rec}` };
    if (action === 'stop') return this.stop(rec, stage, job.stateDir);
    const busy = this.list.find((a) => a.rec === rec && a.stage === stage && a.state === 'running');
    if (busy) return { ok: false, status: 409, message: `${rec} ${stage}: already being ${busy.action === 'force' ? 'forced' : 'rerun'} from this page` };
    const args = [stage, '--dir', recording.dir, ...(action === 'force' ? ['--force', stage] : []), ...this.cliArgs];
    const a = this.add({ action, rec, stage, state: 'running', command: `ephys-make ${args.join(' ')}`, output: '' });
    const child = spawn(process.execPath, [binPath, ...args], { cwd: this.cwd, env: { ...this.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.add(child);
    const take = (d: Buffer) => { a.output = (a.output + d.toString()).slice(-outputKeptChars); this.emit(a); };
    child.stdout!.on('data', take);
    child.stderr!.on('data', take);
    child.on('error', (err) => { a.state = 'failed'; a.output += `cannot start: ${err.message}\n`; this.emit(a); });
    child.on('close', (code) => {
      this.children.delete(child);
      a.exitCode = code;
      a.state = code === 0 ? 'done' : 'failed';
      this.emit(a);
    });
    return { ok: true, id: a.id };
  }

  private stop(rec: string, stage: string, stateDir: string): ActionResult {
    const r = readState(stateDir).jobs[stage];
    if (r?.status !== 'running' || !r.pid || !r.host) return { ok: false, status: 409, message: `${rec} ${stage} is not running` };
    if (r.host !== hostName) return { ok: false, status: 409, message: `${rec} ${stage} runs on ${r.host}, not on this machine; stop it there` };
    if (!r.childPid) return { ok: false, status: 409, message: `${rec} ${stage}: its record names no job process yet; try again in a moment` };
    if (!isAlive({ pid: r.childPid, host: r.host, procStart: r.childStart })) return { ok: false, status: 409, message: `${rec} ${stage}: its process ${r.childPid} has already ended` };
    killGroup(r.childPid, 'SIGTERM');
    const a = this.add({ action: 'stop', rec, stage, state: 'done', output: `sent SIGTERM to process group ${r.childPid} (the job of ephys-make pid ${r.pid})\n` });
    return { ok: true, id: a.id };
  }

  private add(a: Omit<ActionState, 'id'>): ActionState {
    const full = { id: String(++this.seq), ...a };
    this.list.push(full);
    if (this.list.length > 200) this.list.splice(0, this.list.length - 200);
    this.emit(full);
    return full;
  }

  /** Stop the commands this page started (SIGTERM: they mark their jobs interrupted and release locks) and wait for them. */
  async stopAll(): Promise<void> {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    await Promise.all([...this.children].map((c) => new Promise<void>((r) => { if (c.exitCode !== null || c.signalCode !== null) r(); else c.on('close', () => r()); })));
  }
}
