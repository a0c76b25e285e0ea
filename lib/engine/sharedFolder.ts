/**
 * A folder shared by every user of the machine (the pools' slots), safe inside a world-writable
 * temp folder: it appears only whole, with mode 1777 (anyone may add files, only a file's owner
 * may remove or replace it), it is never followed through a symlink, and it is refused when its
 * owner or mode would let another user tamper with it in ways ephys-make did not set up.
 *
 * Accepted: our own folder; root's, when we may write in it; another user's with mode exactly
 * 1777 (what their ephys-make made). Refused, with what to do: a symlink, a non-folder, a folder
 * writable by others without the sticky bit, another user's folder of any other mode.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface SharedFolderOptions {
  /** Our own folder with another mode is set to 1777 (the default folder; never a user's own choice). */
  fixOwnMode: boolean;
  /** What to call it in messages. */
  what: string;
}

const fix = 'remove it, or set EPHYS_MAKE_POOL_DIR to a folder every ephys-make user may write';

export function ensureSharedFolder(dir: string, o: SharedFolderOptions): string | undefined {
  for (let attempt = 0; attempt < 3; attempt++) {
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(dir);
    } catch (err: any) {
      if (err.code !== 'ENOENT') return `${o.what} ${dir}: cannot look at it (${err.code ?? err.message})`;
    }
    if (st) return judge(dir, st, o);
    const problem = create(dir, o);
    if (problem) return problem;
  }
  return `${o.what} ${dir} keeps changing under ephys-make; ${fix}`;
}

/** Made under a temp name, set to 1777, then renamed into place: nobody sees it half set up. */
function create(dir: string, o: SharedFolderOptions): string | undefined {
  const parent = path.dirname(dir);
  let tmp: string;
  try {
    fs.mkdirSync(parent, { recursive: true });
    tmp = fs.mkdtempSync(path.join(parent, `.${path.basename(dir)}-`));
  } catch (err: any) {
    return `cannot create ${o.what} ${dir}: ${err.code === 'EACCES' || err.code === 'EPERM' ? `no permission to write in ${parent}` : err.code ?? err.message}`;
  }
  try {
    fs.chmodSync(tmp, 0o1777);
    fs.renameSync(tmp, dir);
  } catch (err: any) {
    try { fs.rmdirSync(tmp); } catch { /* already gone */ }
    // Someone else made it meanwhile: the caller judges theirs.
    if (fs.existsSync(dir) || ['EEXIST', 'ENOTEMPTY', 'EPERM'].includes(err.code)) return undefined;
    return `cannot create ${o.what} ${dir}: ${err.code ?? err.message}`;
  }
  return undefined;
}

function judge(dir: string, st: fs.Stats, o: SharedFolderOptions): string | undefined {
  if (st.isSymbolicLink()) return `${o.what} ${dir} is a symbolic link; ephys-make does not follow it (another user could point it anywhere): ${fix}`;
  if (!st.isDirectory()) return `${o.what} ${dir} is not a folder: ${fix}`;
  const mode = st.mode & 0o7777;
  const me = process.getuid?.() ?? -1;
  const shown = `mode ${mode.toString(8).padStart(4, '0')}`;
  if (st.uid === me) {
    if (o.fixOwnMode && mode !== 0o1777) {
      try { fs.chmodSync(dir, 0o1777); } catch (err: any) { return `${o.what} ${dir}: cannot set mode 1777 (${err.code})`; }
    }
    return undefined;
  }
  if ((mode & 0o022) && !(mode & 0o1000)) {
    return `${o.what} ${dir} (owner ${userOf(st.uid)}) is writable by others without the sticky bit (${shown}): any user could remove another's slots; ${fix}`;
  }
  if (st.uid === 0) {
    try { fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK); } catch {
      return `${o.what} ${dir} belongs to root with ${shown} and is not writable by ${userOf(me)}: ask an administrator to make it mode 1777, or set EPHYS_MAKE_POOL_DIR`;
    }
    return undefined;
  }
  if (mode !== 0o1777) return `${o.what} ${dir} belongs to user ${userOf(st.uid)} with ${shown}, not the 1777 ephys-make makes: other users cannot share it safely; ${fix}`;
  return undefined;
}

/** A user's name from /etc/passwd, else `uid N`. */
export function userOf(uid: number): string {
  try {
    for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length > 2 && Number(f[2]) === uid) return f[0];
    }
  } catch { /* no passwd file */ }
  return `uid ${uid}`;
}
