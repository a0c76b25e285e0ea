/** How long the recording a Kilosort folder was sorted from is, from Phy's params.py. */
import fs from 'node:fs';
import path from 'node:path';

/**
 * The sorted recording's length in samples, from Phy's params.py (`dat_path`, `n_channels_dat`,
 * `dtype`, `offset`) and the binary's size; undefined when any of it is missing, unreadable or empty.
 */
export function recordingLength(dir: string): { samples: number; source: string } | undefined {
  let text: string;
  try { text = fs.readFileSync(path.join(dir, 'params.py'), 'utf8'); } catch { return undefined; }
  const value = (key: string) => new RegExp(`^\\s*${key}\\s*=\\s*(.+?)\\s*$`, 'm').exec(text)?.[1];
  const channels = Number(value('n_channels_dat'));
  const offset = Number(value('offset') ?? 0);
  const dtype = /^[rb]?['"](\w+)['"]$/.exec(value('dtype') ?? "'int16'")?.[1];
  const itemBytes = dtype === 'int16' || dtype === 'uint16' ? 2 : dtype === 'float32' || dtype === 'int32' ? 4 : dtype === 'float64' ? 8 : dtype === 'int8' || dtype === 'uint8' ? 1 : 0;
  const files = [...(value('dat_path') ?? '').matchAll(/[rR]?(['"])(.*?)\1/g)].map((m) => path.resolve(dir, m[2]));
  if (!(Number.isInteger(channels) && channels > 0) || !(offset >= 0) || !itemBytes || !files.length) return undefined;
  let samples = 0;
  for (const f of files) {
    const st = fs.statSync(f, { throwIfNoEntry: false });
    if (!st?.isFile()) return undefined;
    samples += Math.floor(Math.max(0, st.size - offset) / (channels * itemBytes));
  }
  // An empty stand-in (the binary moved away, a placeholder left) was not what was sorted.
  if (samples === 0) return undefined;
  return { samples, source: files.length === 1 ? files[0] : `${files.length} files of params.py's dat_path` };
}
