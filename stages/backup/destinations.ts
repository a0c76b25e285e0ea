/** The backup roots of one job: each must exist, hold the copy outside the source, and (unless allowed) sit on another device. */
import fs from 'node:fs';
import path from 'node:path';
import { StageError } from '../../lib/builtin/stage.js';
import { copyFolderFor } from '../../lib/formats/backupManifest.js';
import type { BackupParams } from './params.js';

export interface Destination {
  root: string;
  /** Where `from` is copied: <root>/<from below layout_root>. */
  folder: string;
  manifestPath: string;
  device: bigint;
}

function inside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

export function destinationsFor(p: BackupParams, fromStat: fs.BigIntStats): Destination[] {
  const seen = new Set<string>();
  return p.to.map((root) => {
    let st: fs.BigIntStats;
    try { st = fs.statSync(root, { bigint: true }); } catch {
      throw new StageError(`backup root ${root} does not exist (is the drive mounted?); ephys-make does not create backup roots`);
    }
    if (!st.isDirectory()) throw new StageError(`backup root ${root} is not a folder`);
    const folder = copyFolderFor(root, p.layoutRoot, p.from);
    if (!folder) throw new StageError(`backup_params.from (${p.from}) is not inside layout_root (${p.layoutRoot}), so its place under the backup roots is not defined`);
    if (inside(folder, p.from) || inside(p.from, folder)) throw new StageError(`backup root ${root}: the copy ${folder} would overlap its source ${p.from}`);
    if (seen.has(folder)) throw new StageError(`backup root ${root} is named twice in backup_params.to`);
    seen.add(folder);
    if (!p.allowSameDevice && st.dev === fromStat.dev) {
      throw new StageError(`backup root ${root} is on the same device as ${p.from}: a copy on the same disk is lost with it. Give a root on another drive (is it mounted?), or set backup_params.allow_same_device: true`);
    }
    return { root, folder, manifestPath: path.join(folder, p.manifest), device: st.dev };
  });
}
