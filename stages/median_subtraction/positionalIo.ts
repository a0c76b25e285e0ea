/**
 * Whole reads and writes at a file position on libuv's thread pool, so that several can be in
 * flight while the JavaScript thread goes on; a call may move fewer bytes than asked, hence loops.
 */
import fs from 'node:fs';

export function readFully(fd: number, into: Uint8Array, position: number, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (got: number) => {
      if (got === into.length) return resolve();
      fs.read(fd, into, got, into.length - got, position + got, (err, n) => {
        if (err) return reject(err);
        if (n === 0) return reject(new Error(`${path}: file ended early (was it truncated while being read?)`));
        step(got + n);
      });
    };
    step(0);
  });
}

export function writeFully(fd: number, from: Uint8Array, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (done: number) => {
      if (done === from.length) return resolve();
      fs.write(fd, from, done, from.length - done, position + done, (err, n) => (err ? reject(err) : step(done + n)));
    };
    step(0);
  });
}
