/**
 * `ephys-make verify-backup [--dir D]...`: read every backed-up file back from its disk and compare
 * it with its manifest line; report files that are missing, changed, or there without a manifest
 * line (extra). With --dir, every backup found under D (a backup root, or any folder in it), which
 * works after the recording itself is gone; without, the backups the pipeline's `backup` stages
 * make, recording by recording. Exit 0 when every file matches, 1 when one is missing or changed
 * (or a recording has no backup yet), 2 for usage errors.
 */
import fs from 'node:fs';
import path from 'node:path';
import fg from 'fast-glob';
import { engineOptions, printDiagnostics, type CliOptions } from './options.js';
import type { Io } from '../base/io.js';
import { hashFromDisk } from '../base/readBack.js';
import { algorithmOf } from '../base/contentHash.js';
import { formatBytes } from '../base/signature.js';
import { copyFolderFor, isManifestName, manifestSuffix, readManifest, type ManifestEntry } from '../formats/backupManifest.js';

interface Folder { dir: string; manifests: string[]; label?: string }

function findFolders(root: string): Folder[] {
  const found = fg.sync(`**/*${manifestSuffix}`, { cwd: root, dot: true, onlyFiles: true, absolute: true, suppressErrors: true });
  const byDir = new Map<string, string[]>();
  for (const m of found.sort()) {
    const d = path.dirname(m);
    byDir.set(d, [...(byDir.get(d) ?? []), m]);
  }
  return [...byDir].map(([dir, manifests]) => ({ dir, manifests }));
}

/** The copy folders the pipeline's backup stages write, per recording. */
async function pipelineFolders(o: CliOptions, io: Io): Promise<{ folders: Folder[]; notBackedUp: string[] } | number> {
  const { openPlanner } = await import('../engine/planner.js');
  const opened = openPlanner({ ...engineOptions(o, io), targets: ['all'] });
  if (!opened.ok) return printDiagnostics(io, opened.diagnostics);
  const planner = opened.value;
  const backupStages = planner.stages.filter((s) => s.run === 'builtin' && s.module === 'backup');
  if (!backupStages.length) {
    io.err(`ephys-make: verify-backup: ${path.basename(planner.pipeline.file)} has no stage with run: builtin, module: backup; give the backup folders with --dir\n`);
    return 2;
  }
  const found = planner.discover();
  if (!found.ok) return printDiagnostics(io, found.diagnostics);
  const jobs = [];
  for (const rec of found.value) {
    const rp = planner.jobsOf(rec);
    if (!rp.ok) return printDiagnostics(io, rp.diagnostics);
    jobs.push(...rp.value.jobs.filter((j) => backupStages.includes(j.stage)));
  }
  const folders: Folder[] = [];
  const notBackedUp: string[] = [];
  for (const job of jobs) {
    const p = job.input.json.backup_params ?? {};
    for (const root of p.to ?? []) {
      const dir = copyFolderFor(root, p.layout_root, p.from);
      if (!dir) continue;
      const manifest = path.join(dir, p.manifest);
      const label = `${job.recording.name} ${job.stage.name}`;
      if (fs.existsSync(manifest)) folders.push({ dir, manifests: [manifest], label });
      else notBackedUp.push(`${label}: no backup in ${root} yet (${manifest} does not exist)`);
    }
  }
  return { folders, notBackedUp };
}

export async function verifyBackup(o: CliOptions, io: Io): Promise<number> {
  let folders: Folder[] = [];
  const problems = { missing: 0, changed: 0, extra: 0 };
  if (o.dirs.length) {
    for (const d of o.dirs) {
      const dir = path.resolve(io.cwd, d);
      if (!fs.existsSync(dir)) { io.err(`ephys-make: verify-backup: --dir ${d}: no such folder\n`); return 2; }
      const found = findFolders(dir);
      if (!found.length) { io.err(`ephys-make: verify-backup: no backup manifest (*${manifestSuffix}) under ${dir}\n`); return 2; }
      folders.push(...found);
    }
  } else {
    const r = await pipelineFolders(o, io);
    if (typeof r === 'number') return r;
    folders = r.folders;
    for (const line of r.notBackedUp) { io.out(`NONE     ${line}\n`); problems.missing++; }
  }
  const copyDirs = new Set(folders.map((f) => f.dir));
  let files = 0, bytes = 0;
  const started = Date.now();
  for (const folder of folders) {
    const entries = new Map<string, ManifestEntry>();
    for (const m of folder.manifests) {
      const read = readManifest(m);
      for (const [k, e] of read.entries) entries.set(k, e);
      for (const n of read.unreadableLines) io.out(`note     ${m}:${n}: not a manifest line (torn by a crash, or damaged); ignored\n`);
    }
    let bad = 0;
    for (const e of [...entries.values()].sort((a, b) => a.file.localeCompare(b.file))) {
      const file = path.join(folder.dir, e.file);
      let size: number;
      try { size = fs.statSync(file).size; } catch {
        io.out(`MISSING  ${file} (manifest: ${formatBytes(e.size)}, verified ${e.time})\n`);
        problems.missing++; bad++;
        continue;
      }
      const back = await hashFromDisk(file, algorithmOf(e.hash)!);
      files++; bytes += back.sizeBytes;
      if (size !== e.size || back.digest !== e.hash) {
        io.out(`CHANGED  ${file}: now ${formatBytes(back.sizeBytes)} ${back.digest}; manifest: ${formatBytes(e.size)} ${e.hash} (verified ${e.time})\n`);
        problems.changed++; bad++;
      }
    }
    // Files in the copy that no manifest line vouches for (a nested folder with its own manifests is checked on its own).
    const nested = [...copyDirs].filter((d) => d !== folder.dir && d.startsWith(folder.dir + path.sep)).map((d) => path.relative(folder.dir, d).split(path.sep).join('/') + '/**');
    const present = fg.sync('**', { cwd: folder.dir, dot: true, onlyFiles: true, ignore: nested, suppressErrors: true });
    for (const rel of present.sort()) {
      if (entries.has(rel) || (!rel.includes('/') && isManifestName(rel))) continue;
      const what = rel.endsWith('.backup.partial') ? 'an unfinished copy left by an interrupted backup' : 'not in any manifest';
      io.out(`EXTRA    ${path.join(folder.dir, rel)}: ${what}\n`);
      problems.extra++;
    }
    if (!bad) io.out(`ok       ${folder.label ? `${folder.label}: ` : ''}${folder.dir}: ${entries.size} file${entries.size === 1 ? '' : 's'} match their manifest\n`);
  }
  const seconds = (Date.now() - started) / 1000;
  const rate = seconds > 0 && bytes ? `, ${formatBytes(bytes / seconds)}/s` : '';
  const found = Object.entries(problems).filter(([, n]) => n).map(([k, n]) => `${n} ${k}`).join(', ');
  io.out(`\nread back ${files} file${files === 1 ? '' : 's'} (${formatBytes(bytes)}${rate}) in ${folders.length} backup folder${folders.length === 1 ? '' : 's'}: ${found || 'all match'}\n`);
  return problems.missing || problems.changed ? 1 : 0;
}
