/**
 * The byte-level encoding of a WebAssembly module, for the SIMD kernels that are assembled at
 * load (so no toolchain is needed to build the project): LEB128 integers, names, vectors,
 * sections, the module header, and compiling with a fallback where the engine refuses the module
 * (no SIMD). Instructions stay with each kernel: each uses a different handful of them.
 */

export const valueType = { i32: 0x7f, f64: 0x7c, v128: 0x7b } as const;

export const wasmPageBytes = 65536;
/** 4 GiB is wasm32's limit; one page short of it keeps every byte offset a valid i32. */
export const maxWasmPages = 65535;

export function unsignedLeb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

export function signedLeb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

/** An import, export or module name: its UTF-8 byte count, then the bytes. */
export function name(s: string): number[] {
  const bytes = [...Buffer.from(s, 'utf8')];
  return [...unsignedLeb(bytes.length), ...bytes];
}

/** A vector: the item count, then the items' bytes in order. */
export function vector(items: number[][]): number[] {
  return [...unsignedLeb(items.length), ...items.flat()];
}

export function section(id: number, body: number[]): number[] {
  return [id, ...unsignedLeb(body.length), ...body];
}

/** A whole module: the magic number and version 1, then `sections` (already in id order). */
export function assembleModule(sections: number[][]): Uint8Array<ArrayBuffer> {
  return Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0, ...sections.flat()]);
}

/** The compiled module, or undefined where this engine rejects it (WebAssembly SIMD missing). */
export function compileModule(bytes: Uint8Array<ArrayBuffer>): WebAssembly.Module | undefined {
  try {
    return new WebAssembly.Module(bytes);
  } catch {
    return undefined;
  }
}
