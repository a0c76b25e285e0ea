/**
 * Kilosort's arrays as Kilosort wrote them, kept aside so that rewriting them in place never
 * compounds. The Allen module overwrites spike_times.npy & co. with the cleaned arrays; running it
 * again cleans the already-cleaned arrays. Here, before the first in-place rewrite, every array the
 * algorithm reads is kept under `<kilosort_output_directory>/.ephys-make/kilosort_postprocessing/
 * original/` (a hard link, else a reflink or copy), with a manifest of signatures:
 *
 *   source  the file in the Kilosort folder when it was kept (size:mtimeNs:ino)
 *   kept    the kept file itself (equal to source for a hard link)
 *   outputs what this stage put in the Kilosort folder under that name: the last run's output,
 *           and while a run renames its files into place, that run's too
 *
 * Each run classifies every file of the folder: `ours` (its signature is one of our outputs),
 * `original` (still the file that was kept), or `foreign` (neither: Kilosort reran, which deletes
 * and rewrites every .npy, or someone replaced the file). No ours -> the folder holds Kilosort's
 * own arrays: keep them (again). No foreign -> read the kept originals. Both -> refuse: part of the
 * folder is our cleaned output and part is new, and no choice is safe.
 *
 * Hard links are safe because every writer that matters replaces files by a new inode: Kilosort
 * deletes its .npy files before writing, and this stage renames finished files into place. The
 * kept link and the folder's file share an inode only until the first rewrite.
 */
import fs from 'node:fs';
import path from 'node:path';
import { StageError } from '../../lib/builtin/stage.js';
import { statSignature, type Signature } from '../../lib/base/signature.js';
import { writeFileAtomic } from '../../lib/base/atomicFile.js';

/** Arrays the stage rewrites in place. */
export const rewrittenNames = ['spike_times.npy', 'spike_clusters.npy', 'spike_templates.npy', 'amplitudes.npy', 'pc_features.npy'] as const;
/** Arrays it only reads; kept too, so the kept folder loads like a Kilosort folder and a Kilosort rerun shows. */
export const readOnlyNames = ['templates.npy', 'whitening_mat_inv.npy', 'channel_map.npy', 'pc_feature_ind.npy', 'template_features.npy'] as const;
const trackedNames: readonly string[] = [...rewrittenNames, ...readOnlyNames];

const manifestVersion = 2;

export interface KeptFile { source: Signature; kept: Signature; outputs?: Signature[] }
export interface Manifest { version: number; files: Record<string, KeptFile> }

export function keptDir(kilosortDir: string): string {
  return path.join(kilosortDir, '.ephys-make', 'kilosort_postprocessing', 'original');
}

function manifestPath(kilosortDir: string): string {
  return path.join(keptDir(kilosortDir), 'manifest.json');
}

/** An unreadable or unknown-version manifest counts as none: the folder's files are then Kilosort's. */
export function readManifest(kilosortDir: string): Manifest | undefined {
  try {
    const m = JSON.parse(fs.readFileSync(manifestPath(kilosortDir), 'utf8'));
    if (m?.version !== manifestVersion || typeof m.files !== 'object' || m.files === null) return undefined;
    return m as Manifest;
  } catch {
    return undefined;
  }
}

export function writeManifest(kilosortDir: string, m: Manifest): void {
  writeFileAtomic(manifestPath(kilosortDir), JSON.stringify(m, null, 2) + '\n');
}

export type FileState = 'ours' | 'original' | 'foreign';

export interface FolderState {
  manifest: Manifest | undefined;
  states: Record<string, FileState>;
}

export function classifyFolder(kilosortDir: string): FolderState {
  const manifest = readManifest(kilosortDir);
  const states: Record<string, FileState> = {};
  const names = new Set(trackedNames.filter((n) => fs.existsSync(path.join(kilosortDir, n))));
  for (const n of Object.keys(manifest?.files ?? {})) names.add(n);
  for (const name of names) {
    const sig = statSignature(path.join(kilosortDir, name));
    const entry = manifest?.files[name];
    if (sig && entry?.outputs?.includes(sig)) states[name] = 'ours';
    else if (sig && entry?.source === sig) states[name] = 'original';
    else states[name] = 'foreign';
  }
  return { manifest, states };
}

/** Put `from` at `to` without copying bytes when the file system allows, replacing `to` atomically. */
function keepFile(from: string, to: string): void {
  const tmp = `${to}.${process.pid}.keep`;
  fs.rmSync(tmp, { force: true });
  try {
    fs.linkSync(from, tmp);
  } catch {
    // Some shares refuse hard links: a reflink where offered, else a real copy.
    fs.copyFileSync(from, tmp, fs.constants.COPYFILE_FICLONE);
  }
  fs.renameSync(tmp, to);
}

/** Keep the folder's current arrays as Kilosort's originals, replacing what was kept before. */
export function keepOriginals(kilosortDir: string): Manifest {
  const dir = keptDir(kilosortDir);
  fs.mkdirSync(dir, { recursive: true });
  const files: Record<string, KeptFile> = {};
  for (const name of trackedNames) {
    const from = path.join(kilosortDir, name);
    const to = path.join(dir, name);
    if (!fs.existsSync(from)) {
      fs.rmSync(to, { force: true });
      continue;
    }
    keepFile(from, to);
    const source = statSignature(from);
    const kept = statSignature(to);
    if (!source || !kept) throw new StageError(`${from}: vanished while it was being kept`);
    files[name] = { source, kept };
  }
  const m = { version: manifestVersion, files };
  writeManifest(kilosortDir, m);
  return m;
}

export interface Sources {
  /** Folder to read the arrays from: the Kilosort folder itself or the kept originals. */
  dir: string;
  manifest: Manifest | undefined;
  /** What happened, for the job's log. */
  note: string;
}

function describe(names: string[]): string {
  return names.join(', ');
}

/**
 * Where this run reads Kilosort's arrays. `keep` (in-place runs) keeps the folder's arrays first
 * when they are Kilosort's own; a run writing elsewhere never touches the Kilosort folder.
 */
export function resolveSources(kilosortDir: string, keep: boolean): Sources {
  const { manifest, states } = classifyFolder(kilosortDir);
  const entries = Object.entries(states);
  const ours = entries.filter(([, s]) => s === 'ours').map(([n]) => n);
  const foreign = entries.filter(([, s]) => s === 'foreign').map(([n]) => n);
  if (ours.length > 0 && foreign.length > 0) {
    throw new StageError(
      `${kilosortDir}: ${describe(ours)} ${ours.length === 1 ? 'is' : 'are'} this stage's cleaned output, but ` +
      `${describe(foreign)} changed since Kilosort wrote ${foreign.length === 1 ? 'it' : 'them'}; cleaning again would ` +
      `remove spikes twice. Rerun Kilosort, or put its original arrays back from ${keptDir(kilosortDir)}`,
    );
  }
  const dir = keptDir(kilosortDir);
  const keptIntact = (): string | undefined => {
    for (const [name, entry] of Object.entries(manifest?.files ?? {})) {
      const sig = statSignature(path.join(dir, name));
      if (sig !== entry.kept) return `${path.join(dir, name)}: the kept original of Kilosort's ${name} is ${sig ? 'changed' : 'missing'}`;
    }
    return undefined;
  };
  if (ours.length > 0) {
    const problem = keptIntact();
    if (problem) throw new StageError(`${problem}; the cleaned arrays in ${kilosortDir} cannot be recomputed without it. Rerun Kilosort`);
    return { dir, manifest, note: `reading Kilosort's original arrays kept in ${dir}` };
  }
  // Nothing of ours in the folder: its arrays are Kilosort's.
  if (!keep) return { dir: kilosortDir, manifest: undefined, note: `reading Kilosort's arrays in ${kilosortDir}` };
  if (manifest && foreign.length === 0 && !keptIntact()) return { dir, manifest, note: `Kilosort's arrays already kept in ${dir}` };
  const fresh = keepOriginals(kilosortDir);
  const why = manifest && foreign.length ? `Kilosort's arrays changed (${describe(foreign)}); kept the new ones` : 'kept Kilosort\'s arrays';
  return { dir, manifest: fresh, note: `${why} in ${dir}` };
}

/**
 * Record outputs about to be renamed into place. Until `settleOutputs`, both the previous and the
 * new outputs count as ours, so a crash between two renames leaves no file of unknown origin.
 */
export function announceOutputs(kilosortDir: string, outputs: Record<string, Signature>): void {
  const m = readManifest(kilosortDir);
  if (!m) throw new Error('internal error: in-place run without kept originals');
  for (const [name, sig] of Object.entries(outputs)) {
    const entry = m.files[name];
    if (entry) entry.outputs = [...(entry.outputs ?? []).filter((s) => s !== sig), sig];
  }
  writeManifest(kilosortDir, m);
}

/** After the renames: only the new outputs are ours. */
export function settleOutputs(kilosortDir: string, outputs: Record<string, Signature>): void {
  const m = readManifest(kilosortDir);
  if (!m) throw new Error('internal error: in-place run without kept originals');
  for (const [name, sig] of Object.entries(outputs)) {
    const entry = m.files[name];
    if (entry) entry.outputs = [sig];
  }
  writeManifest(kilosortDir, m);
}
