/**
 * Content hashes for verified copies. `xxh3-64` (XXH3, seed 0, from the native @node-rs/xxhash)
 * runs at memory speed, so a copy is limited by the disks rather than by hashing; `sha256`
 * (node:crypto) is offered for labs that check copies with `sha256sum`. A digest is written
 * `ALGORITHM:hex` so a manifest says how to recompute it.
 */
import crypto from 'node:crypto';
import { createRequire } from 'node:module';

export const hashAlgorithms = ['xxh3-64', 'sha256'] as const;
export type HashAlgorithm = typeof hashAlgorithms[number];

export interface ContentHash {
  update(bytes: Uint8Array): void;
  /** `ALGORITHM:lowercase hex`. */
  digest(): string;
}

interface Xxh3State { update(b: Uint8Array): unknown; digest(): bigint }
let xxh3: { withSeed(seed?: bigint): Xxh3State } | undefined;

function loadXxh3(): { withSeed(seed?: bigint): Xxh3State } {
  // Loaded on first use: a command that never hashes never loads the native addon.
  xxh3 ??= createRequire(import.meta.url)('@node-rs/xxhash').xxh3.Xxh3;
  return xxh3!;
}

export function isHashAlgorithm(name: string): name is HashAlgorithm {
  return (hashAlgorithms as readonly string[]).includes(name);
}

export function createContentHash(algorithm: HashAlgorithm): ContentHash {
  switch (algorithm) {
    case 'xxh3-64': {
      const state = loadXxh3().withSeed(0n);
      return {
        update: (b) => { state.update(b); },
        digest: () => `xxh3-64:${state.digest().toString(16).padStart(16, '0')}`,
      };
    }
    case 'sha256': {
      const h = crypto.createHash('sha256');
      return { update: (b) => { h.update(b); }, digest: () => `sha256:${h.digest('hex')}` };
    }
    default: {
      const never: never = algorithm;
      throw new Error(`internal error: unknown hash algorithm ${String(never)}`);
    }
  }
}

/** The algorithm named by a digest (`xxh3-64:...`), or undefined when it is not one we know. */
export function algorithmOf(digest: string): HashAlgorithm | undefined {
  const name = digest.slice(0, digest.indexOf(':'));
  return isHashAlgorithm(name) ? name : undefined;
}
