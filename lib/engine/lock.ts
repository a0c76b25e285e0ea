/**
 * Lock files held by a process: a recording's lock (one ephys-make per recording) and the slots of
 * machine-wide pools. Created with O_EXCL; a lock whose holder died is taken over, under a second
 * short-lived lock so two successors cannot both take it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isAlive, selfIdentity, type ProcessIdentity } from '../base/processInfo.js';
import { writeAll } from '../base/atomicFile.js';

export interface LockHolder extends ProcessIdentity {
  startedAt: string;
  purpose?: string;
}

export type LockAttempt = { ok: true; release: () => void } | { ok: false; holder: LockHolder };

function readHolder(file: string): LockHolder | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

function create(file: string, purpose: string): boolean {
  const me: LockHolder = { ...selfIdentity(), startedAt: new Date().toISOString(), purpose };
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx');
  } catch (err: any) {
    if (err.code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeAll(fd, Buffer.from(JSON.stringify(me)));
    fs.closeSync(fd);
  } catch (err) {
    // A full disk (or a quota) gives an empty lock that would look held by a writer for a while:
    // never leave one.
    try { fs.closeSync(fd); } catch { /* already closed */ }
    fs.rmSync(file, { force: true });
    throw err;
  }
  return true;
}

export function tryLock(file: string, purpose: string): LockAttempt {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 3; attempt++) {
    if (create(file, purpose)) {
      let released = false;
      return {
        ok: true,
        release: () => {
          if (released) return;
          released = true;
          const h = readHolder(file);
          if (h && h.pid === process.pid) fs.rmSync(file, { force: true });
        },
      };
    }
    const holder = readHolder(file);
    // A holder still writing its lock has an empty file for an instant: treat as alive.
    if (!holder) {
      const st = fs.statSync(file, { throwIfNoEntry: false });
      if (st && Date.now() - st.mtimeMs < 5000) return { ok: false, holder: { pid: 0, host: '?', startedAt: '?' } };
    } else if (isAlive(holder)) {
      return { ok: false, holder };
    }
    if (!takeOver(file, holder)) return { ok: false, holder: holder ?? { pid: 0, host: '?', startedAt: '?' } };
  }
  return { ok: false, holder: readHolder(file) ?? { pid: 0, host: '?', startedAt: '?' } };
}

/** Remove a dead holder's lock, unless someone else replaced it meanwhile. */
function takeOver(file: string, dead: LockHolder | undefined): boolean {
  const guard = `${file}.takeover`;
  if (!create(guard, 'takeover')) {
    const g = readHolder(guard);
    if (g && !isAlive(g)) fs.rmSync(guard, { force: true });
    return false;
  }
  try {
    const now = readHolder(file);
    if (JSON.stringify(now) === JSON.stringify(dead)) fs.rmSync(file, { force: true });
    return true;
  } finally {
    fs.rmSync(guard, { force: true });
  }
}

export function describeHolder(h: LockHolder): string {
  return `pid ${h.pid} on ${h.host}${h.startedAt && h.startedAt !== '?' ? ` since ${h.startedAt}` : ''}${h.purpose ? ` (${h.purpose})` : ''}`;
}
