/**
 * The copy an `in_place` stage works on. Files are copied as reflinks where the file system can
 * (COPYFILE_FICLONE falls back to a real copy), each to a temp name and renamed into place.
 * A folder is copied file by file over the previous copy: files in the copy that the source does
 * not have (a lab's Phy curation, say) are left alone, never deleted.
 */
import fs from 'node:fs';
import path from 'node:path';
import { partialPath } from '../base/atomicFile.js';

async function copyOne(source: string, dest: string): Promise<void> {
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  const tmp = partialPath(dest);
  try {
    await fs.promises.copyFile(source, tmp, fs.constants.COPYFILE_FICLONE);
    fs.renameSync(tmp, dest);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** Returns how many files were copied. */
export async function copyForInPlace(source: string, dest: string): Promise<number> {
  const st = fs.statSync(source);
  if (!st.isDirectory()) { await copyOne(source, dest); return 1; }
  let n = 0;
  for (const e of fs.readdirSync(source, { withFileTypes: true })) {
    // The engine's own state never travels with a copy.
    if (e.name === '.ephys-make' || e.name.endsWith('.partial')) continue;
    const from = path.join(source, e.name), to = path.join(dest, e.name);
    if (e.isDirectory()) n += await copyForInPlace(from, to);
    else if (e.isFile()) { await copyOne(from, to); n++; }
  }
  return n;
}
