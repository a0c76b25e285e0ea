/**
 * The inner loop of the snippet sums as a tiny hand-assembled WebAssembly SIMD function, because
 * plain JavaScript manages only about 0.3 G int16 additions a second on our machines and a long
 * recording's snippets need tens of billions:
 *
 *   add(dst, src, groups): for each of `groups` groups of 8 values,
 *     int32 dst[0..7] += int16 src[0..7] (sign-extended), then dst += 32 bytes, src += 16 bytes.
 *
 * It works on an imported shared memory, so every worker thread instantiates the same module
 * over the same accumulators and read buffers.
 */
import { assembleModule, compileModule, maxWasmPages, name, section, unsignedLeb, valueType, wasmPageBytes } from '../../lib/base/wasm.js';

// Opcodes (WebAssembly 2.0; SIMD ones follow the 0xfd prefix as LEB128).
const op = {
  block: 0x02, loop: 0x03, brIf: 0x0d, end: 0x0b, localGet: 0x20, localSet: 0x21, localTee: 0x22,
  i32Const: 0x41, i32Eqz: 0x45, i32Add: 0x6a, i32Sub: 0x6b, void: 0x40,
};
const simdPrefix = 0xfd;
const v128Load = [simdPrefix, 0x00];
const v128Store = [simdPrefix, 0x0b];
const i32x4ExtendLowI16x8S = [simdPrefix, 0xa7, 0x01];
const i32x4ExtendHighI16x8S = [simdPrefix, 0xa8, 0x01];
const i32x4Add = [simdPrefix, 0xae, 0x01];
const { i32, v128 } = valueType;

/** memarg: alignment hint 1 byte (snippets start anywhere), then the offset. */
const memarg = (offset: number) => [0, ...unsignedLeb(offset)];

function moduleBytes(maxPages: number): Uint8Array<ArrayBuffer> {
  const [dst, src, groups, v] = [0, 1, 2, 3];
  const code = [
    ...unsignedLeb(1), ...unsignedLeb(1), v128, // one local: v (v128)
    op.block, op.void,
    op.localGet, groups, op.i32Eqz, op.brIf, 0,
    op.loop, op.void,
    op.localGet, src, ...v128Load, ...memarg(0), op.localSet, v,
    op.localGet, dst,
    op.localGet, dst, ...v128Load, ...memarg(0),
    op.localGet, v, ...i32x4ExtendLowI16x8S, ...i32x4Add,
    ...v128Store, ...memarg(0),
    op.localGet, dst,
    op.localGet, dst, ...v128Load, ...memarg(16),
    op.localGet, v, ...i32x4ExtendHighI16x8S, ...i32x4Add,
    ...v128Store, ...memarg(16),
    op.localGet, src, op.i32Const, 16, op.i32Add, op.localSet, src,
    op.localGet, dst, op.i32Const, 32, op.i32Add, op.localSet, dst,
    op.localGet, groups, op.i32Const, 1, op.i32Sub, op.localTee, groups,
    op.brIf, 0,
    op.end,
    op.end,
    op.end,
  ];
  return assembleModule([
    section(1, [1, 0x60, 3, i32, i32, i32, 0]),
    section(2, [1, ...name('env'), ...name('memory'), 0x02, 0x03, ...unsignedLeb(1), ...unsignedLeb(maxPages)]),
    section(3, [1, 0]),
    section(7, [1, ...name('add'), 0x00, 0]),
    section(10, [1, ...unsignedLeb(code.length), ...code]),
  ]);
}

export type AddFunction = (dstByte: number, srcByte: number, groups: number) => void;

/** The compiled kernel (for any memory up to maxWasmPages); undefined where SIMD is missing. */
export function compileSumKernel(): WebAssembly.Module | undefined {
  return compileModule(moduleBytes(maxWasmPages));
}

/** Shared memory of at least `bytes`; the caller checks bytes fits in maxWasmPages pages. */
export function createSharedMemory(bytes: number): WebAssembly.Memory {
  const pages = Math.max(1, Math.ceil(bytes / wasmPageBytes));
  return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
}

export function instantiateSumKernel(module: WebAssembly.Module, memory: WebAssembly.Memory): AddFunction {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return instance.exports.add as AddFunction;
}
