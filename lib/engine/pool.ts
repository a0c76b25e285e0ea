/**
 * Machine-wide resource pools: `gpu: 1` means one slot for every ephys-make process on this
 * machine, whoever runs it, not one per process. The slots live in a folder shared by all users
 * (EPHYS_MAKE_POOL_DIR, default `ephys-make-pools` under the system temp folder), one subfolder
 * per pool.
 *
 * A process takes slot k of pool P by announcing itself and then looking:
 *
 *   create P/k.<pid>-<random>.slot (O_EXCL, never following a symlink) holding who it is
 *     -> list P/k.*.slot: another live announcement there? -> remove ours: slot busy (say whose)
 *                                                        else -> the slot is ours
 *
 * Of two processes announcing at once, the later one to look always sees the other, so at most
 * one holds the slot (both may back off; the next poll tries again). Nothing is ever taken over by
 * removing or rewriting another process's file: in a sticky temp folder a user may only remove
 * their own, so a dead holder's announcement is simply no longer live. It is live while its
 * holder runs, and also while the job it started does: the holder records the job's process group
 * before the job may start, so `kill -9` of an ephys-make whose Kilosort runs on does not free the
 * GPU. Such an orphan is stopped by the next one wanting the slot (where it may signal it), and
 * the slot is free once its process group is gone.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { hostName, isAlive, killGroup, processStartOf } from '../base/processInfo.js';
import { isOrphanGroup } from './orphans.js';
import { ensureSharedFolder } from './sharedFolder.js';

export function defaultPoolDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.EPHYS_MAKE_POOL_DIR || path.join(os.tmpdir(), 'ephys-make-pools');
}

/** Who holds a slot, as its announcement says. */
export interface SlotHolder {
  pid: number;
  host: string;
  procStart?: string;
  user?: string;
  startedAt: string;
  /** The job it is for: `stage recording`. */
  job?: string;
  /** The job's process group once started, and its leader's start time. */
  jobPgid?: number;
  jobStart?: string;
}

export interface Grant {
  /** pool -> slot numbers held */
  slots: Record<string, number[]>;
  /** Record the job's process group in the slots, before the job may start. */
  setJob(pgid: number, start: string | undefined): void;
  release(): void;
}

export type Acquired =
  | { ok: true; grant: Grant }
  | { ok: false; busy: { pool: string; slot: number; holder: SlotHolder; orphan: boolean } }
  | { ok: false; error: string };

const slotName = /^(\d+)\.(?:[A-Za-z0-9-]+\.slot|lock)$/;
/** A holder writes its announcement right after creating it: an empty one this young is live. */
const writingGraceMs = 5000;
const maxAnnouncementBytes = 4096;

let userName: string | undefined;
function currentUser(): string {
  if (userName === undefined) {
    try { userName = os.userInfo().username; } catch { userName = `uid ${process.getuid?.() ?? '?'}`; }
  }
  return userName;
}

export class Pools {
  private checked: string | undefined | null = null;

  constructor(readonly dir: string, readonly sizes: Record<string, number>, private readonly isDefaultDir = false) {}

  /** Make (or check) the shared folder and the pools' subfolders; a message when they are unusable. */
  check(): string | undefined {
    if (this.checked !== null) return this.checked;
    const problem = ensureSharedFolder(this.dir, { fixOwnMode: this.isDefaultDir, what: 'machine-wide pool folder' })
      ?? Object.keys(this.sizes).map((pool) => ensureSharedFolder(path.join(this.dir, pool), { fixOwnMode: true, what: `pool folder of '${pool}'` })).find((m) => m);
    this.checked = problem;
    return problem;
  }

  /** Take every slot the request needs, or none. */
  tryAcquire(request: Record<string, number>, job: string): Acquired {
    if (!Object.keys(request).length) return { ok: true, grant: { slots: {}, setJob() {}, release() {} } };
    const problem = this.check();
    if (problem) return { ok: false, error: problem };
    const held: Announcement[] = [];
    const slots: Record<string, number[]> = {};
    const releaseAll = () => { for (const a of held.splice(0)) a.withdraw(); };
    for (const [pool, count] of Object.entries(request)) {
      const size = this.sizes[pool] ?? 1;
      slots[pool] = [];
      let busy: Extract<Acquired, { busy: unknown }>['busy'] | undefined;
      for (let k = 0; k < size && slots[pool].length < count; k++) {
        const r = announce(path.join(this.dir, pool), k, job);
        if ('error' in r) { releaseAll(); this.checked = null; return { ok: false, error: r.error }; }
        if ('busy' in r) { busy ??= { pool, slot: k, ...r.busy }; continue; }
        held.push(r.announcement);
        slots[pool].push(k);
      }
      if (slots[pool].length < count) {
        releaseAll();
        return { ok: false, busy: busy ?? { pool, slot: 0, holder: { pid: 0, host: '?', startedAt: '?' }, orphan: false } };
      }
    }
    return {
      ok: true,
      grant: {
        slots,
        setJob: (pgid, start) => { for (const a of held) a.setJob(pgid, start); },
        release: releaseAll,
      },
    };
  }
}

interface Announcement {
  setJob(pgid: number, start: string | undefined): void;
  withdraw(): void;
}

function announce(dir: string, k: number, job: string): { announcement: Announcement } | { busy: { holder: SlotHolder; orphan: boolean } } | { error: string } {
  const me: SlotHolder = { pid: process.pid, host: hostName, procStart: processStartOf(process.pid), user: currentUser(), startedAt: new Date().toISOString(), job };
  const name = `${k}.${process.pid}-${crypto.randomBytes(4).toString('hex')}.slot`;
  const file = path.join(dir, name);
  try {
    const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o644);
    try { fs.writeSync(fd, JSON.stringify(me)); } finally { fs.closeSync(fd); }
  } catch (err: any) {
    return { error: `cannot take a slot in ${dir}: ${err.code === 'EACCES' || err.code === 'EPERM' ? 'no permission to create files there' : err.code ?? err.message}` };
  }
  const withdraw = () => { try { fs.rmSync(file, { force: true }); } catch { /* gone */ } };
  for (const other of announcementsOf(dir, k)) {
    if (other.name === name) continue;
    const state = liveness(other);
    if (state === 'dead') { removeIfMine(other.file); continue; }
    withdraw();
    return { busy: { holder: other.holder ?? { pid: 0, host: '?', startedAt: '?' }, orphan: state === 'orphan' } };
  }
  return {
    announcement: {
      withdraw,
      setJob(pgid, start) {
        // Our own file, replaced whole (a rename over it): a reader never sees it half-written.
        const tmp = path.join(dir, `.${name}.tmp`);
        fs.writeFileSync(tmp, JSON.stringify({ ...me, jobPgid: pgid, jobStart: start }), { mode: 0o644, flag: 'wx' });
        fs.renameSync(tmp, file);
      },
    },
  };
}

interface Seen { name: string; file: string; holder: SlotHolder | undefined; young: boolean }

function announcementsOf(dir: string, k: number): Seen[] {
  let names: string[];
  try { names = fs.readdirSync(dir); } catch { return []; }
  const out: Seen[] = [];
  for (const name of names) {
    const m = slotName.exec(name);
    if (!m || Number(m[1]) !== k) continue;
    const file = path.join(dir, name);
    const read = readAnnouncement(file);
    if (read === 'not-a-file') continue;
    out.push({ name, file, ...read });
  }
  return out;
}

/** Read without following a symlink or blocking on a fifo: only a small regular file counts. */
function readAnnouncement(file: string): { holder: SlotHolder | undefined; young: boolean } | 'not-a-file' {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch {
    return 'not-a-file';
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size > maxAnnouncementBytes) return 'not-a-file';
    const young = Date.now() - st.mtimeMs < writingGraceMs;
    try {
      const h = JSON.parse(fs.readFileSync(fd, 'utf8'));
      return { holder: typeof h?.pid === 'number' && typeof h?.host === 'string' ? h : undefined, young };
    } catch {
      return { holder: undefined, young };
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** live: its holder runs; orphan: the holder is gone but its job's process group is not. */
function liveness(s: Seen): 'live' | 'orphan' | 'dead' {
  const h = s.holder;
  if (!h) return s.young ? 'live' : 'dead';
  if (isAlive(h)) return 'live';
  if (h.jobPgid && h.host === hostName && isOrphanGroup(h.jobPgid, h.jobStart)) {
    // Its results will never be trusted (its record says running): stop it where we may.
    killGroup(h.jobPgid, 'SIGKILL');
    return 'orphan';
  }
  return 'dead';
}

/** Tidy a dead announcement when the folder lets us (our own, or any as root); others stay, harmless. */
function removeIfMine(file: string): void {
  try {
    const st = fs.lstatSync(file);
    if (st.uid === process.getuid?.() || process.getuid?.() === 0) fs.rmSync(file, { force: true });
  } catch { /* gone */ }
}

/** `gpu slot 0 held by pid 4242 on rig-2 (user alice, kilosort r3) since ...` */
export function describeSlotHolder(pool: string, slot: number, h: SlotHolder, orphan: boolean): string {
  const who = [h.user && `user ${h.user}`, h.job].filter(Boolean).join(', ');
  const base = `${pool} slot ${slot} held by pid ${h.pid} on ${h.host}${who ? ` (${who})` : ''}${h.startedAt && h.startedAt !== '?' ? ` since ${h.startedAt}` : ''}`;
  return orphan ? `${base}: that ephys-make is gone but its job (process group ${h.jobPgid}) still runs; stopping it` : base;
}

/** What a job holding slots sees: EPHYS_MAKE_<POOL>=k, and CUDA_VISIBLE_DEVICES for a pool named gpu. */
export function slotEnvironment(slots: Record<string, number[]>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [pool, ks] of Object.entries(slots)) {
    env[`EPHYS_MAKE_${pool.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`] = ks.join(',');
    if (pool === 'gpu') env.CUDA_VISIBLE_DEVICES = ks.join(',');
  }
  return env;
}
