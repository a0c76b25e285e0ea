/** Reading the end of a file that may be large (a log, SLURM's job completion file). */
import fs from 'node:fs';

/** The last `maxBytes` of a file, starting at a line boundary, and whether it was cut. */
export function readTail(file: string, maxBytes: number): { text: string; cut: boolean; sizeBytes: number } {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const start = Math.max(0, size - maxBytes);
    const buf = Buffer.alloc(size - start);
    fs.readSync(fd, buf, 0, buf.length, start);
    let text = buf.toString('utf8');
    if (start > 0) text = text.slice(text.indexOf('\n') + 1);
    return { text, cut: start > 0, sizeBytes: size };
  } finally {
    fs.closeSync(fd);
  }
}
