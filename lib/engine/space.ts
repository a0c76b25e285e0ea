/**
 * The disk-space preflight: `space: 1.0x ap_band_file` or `space: 20GB`, checked on the output
 * drive before a job starts. Jobs running at once on one drive each reserve what they declared,
 * so two of them cannot both pass on the same free space and then run it out.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Job } from './job.js';
import { formatBytes } from '../base/signature.js';

export interface SpaceNeed { bytes: number; drive: string; device: number }

/** What the job declared it needs, on which drive; a string when that cannot be worked out. */
export function spaceNeeded(job: Job): SpaceNeed | string | undefined {
  const sp = job.stage.space;
  if (!sp) return undefined;
  let bytes: number;
  if ('bytes' in sp) bytes = sp.bytes;
  else {
    // An in_place value names the copy, which does not exist yet: size its source.
    const file = job.inPlace.find((c) => c.key === sp.of)?.source ?? job.input.lookup(sp.of);
    if (!file) return `space: '${sp.of}' is not a value of the input JSON`;
    const st = fs.statSync(path.resolve(job.recording.dir, file), { throwIfNoEntry: false });
    if (!st) return `space: cannot size ${file} (${sp.of})`;
    bytes = sp.factor * st.size;
  }
  // The output folder may not exist yet: its nearest existing parent is on the same drive.
  let drive = job.recording.output;
  while (!fs.existsSync(drive) && path.dirname(drive) !== drive) drive = path.dirname(drive);
  return { bytes, drive: job.recording.output, device: fs.statSync(drive).dev };
}

export function freeBytes(dir: string): number {
  let d = dir;
  while (!fs.existsSync(d) && path.dirname(d) !== d) d = path.dirname(d);
  const s = fs.statfsSync(d);
  return s.bavail * s.bsize;
}

/** Why the job must not start, after what `reserved` bytes of running jobs on its drive may still take. */
export function spaceProblem(need: SpaceNeed, reserved = 0): string | undefined {
  const free = freeBytes(need.drive);
  if (free - reserved >= need.bytes) return undefined;
  return `not enough disk space on the drive of ${need.drive}: needs ${formatBytes(need.bytes)}, ${formatBytes(free)} free${reserved ? ` of which running jobs reserved ${formatBytes(reserved)}` : ''}`;
}
