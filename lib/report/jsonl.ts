/**
 * The watch's event log: every event as one JSON line, e.g. `<root>/.ephys-make/watch.jsonl`, for
 * whoever wants to know later what the watch did and when (dashboards, `jq`, a bug report).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { EngineEvent } from '../engine/events.js';

/** Past this size the log moves to `watch.jsonl.1` (one older generation is kept). */
const rotateBytes = 20 * 1024 * 1024;
/** A streaming stage reports progress many times a second; the log keeps one line per job this often. */
const progressEveryMs = 10_000;

export interface EventLog {
  file: string;
  write(e: EngineEvent): void;
  close(): void;
}

export function openEventLog(file: string, onError: (message: string) => void = () => {}): EventLog {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  let fd = -1;
  let written = 0;
  const open = () => {
    const st = fs.statSync(file, { throwIfNoEntry: false });
    if (st && st.size > rotateBytes) fs.renameSync(file, `${file}.1`);
    fd = fs.openSync(file, 'a');
    written = 0;
  };
  open();
  const lastProgress = new Map<string, number>();
  return {
    file,
    write(e) {
      if (fd < 0) return;
      // Counts derived from other events, only for redrawing a terminal's status line.
      if (e.type === 'watch-status') return;
      if (e.type === 'job-progress') {
        const now = Date.now();
        if (now - (lastProgress.get(e.job.id) ?? 0) < progressEveryMs) return;
        lastProgress.set(e.job.id, now);
      }
      if (e.type === 'job-finished') lastProgress.delete(e.job.id);
      const line = JSON.stringify(eventRecord(e)) + '\n';
      try {
        // One write per line on an O_APPEND descriptor: lines of two writers never interleave.
        fs.writeSync(fd, line);
        written += line.length;
        if (written > rotateBytes) { const old = fd; fd = -1; fs.closeSync(old); open(); }
      } catch (err: any) {
        // A full disk must not stop the watch; say so once and stop logging. The log is closed
        // before saying so: the warning is an event too, and comes back here.
        const broken = fd;
        fd = -1;
        if (broken >= 0) try { fs.closeSync(broken); } catch { /* already unusable */ }
        onError(`cannot write the event log ${file}: ${err.message}; events are no longer logged there`);
      }
    },
    close() {
      if (fd >= 0) fs.closeSync(fd);
      fd = -1;
    },
  };
}

/** An event as a flat JSON object: a job becomes its recording and stage names. */
export function eventRecord(e: EngineEvent, now = new Date()): Record<string, unknown> {
  const out: Record<string, unknown> = { time: now.toISOString(), pid: process.pid };
  for (const [k, v] of Object.entries(e)) {
    if (k === 'job' && v && typeof v === 'object') {
      const job = v as { recording: { name: string }; stage: { name: string } };
      out.recording = job.recording.name;
      out.stage = job.stage.name;
    } else {
      out[k] = v;
    }
  }
  return out;
}
