/**
 * The median kernel's module shape (one exported function over an imported shared memory) and the
 * instructions it emits, over the shared byte encoding of lib/base/wasm.ts.
 *
 * The median kernel is straight-line SIMD code whose shape depends on the channel layout (how
 * many channels each ADC group holds, which are masked), so it is generated per recording
 * instead of shipped as a fixed binary. Only the handful of instructions the kernel needs are here.
 */
import { assembleModule, name, section, signedLeb, unsignedLeb } from '../../lib/base/wasm.js';

/** Opcodes of the SIMD proposal (prefix 0xfd), as numbered in the final WebAssembly 2.0 spec. */
export const simd = {
  load: 0x00,
  store: 0x0b,
  const: 0x0c,
  shuffle: 0x0d,
  f32x4Lt: 0x43,
  and: 0x4e,
  bitselect: 0x52,
  i16x8Sub: 0x91,
  i16x8MinS: 0x96,
  i16x8MaxS: 0x98,
  i32x4ExtendLowI16x8S: 0xa7,
  i32x4ExtendHighI16x8S: 0xa8,
  f32x4Abs: 0xe0,
  f32x4Mul: 0xe6,
  i32x4TruncSatF32x4S: 0xf8,
  f32x4ConvertI32x4S: 0xfa,
} as const;

/** Appends instructions of one function body; locals are declared up front by the caller. */
export class FunctionBody {
  readonly code: number[] = [];

  localGet(i: number): this { this.code.push(0x20, ...unsignedLeb(i)); return this; }
  localSet(i: number): this { this.code.push(0x21, ...unsignedLeb(i)); return this; }
  localTee(i: number): this { this.code.push(0x22, ...unsignedLeb(i)); return this; }
  i32Const(v: number): this { this.code.push(0x41, ...signedLeb(v | 0)); return this; }
  i32Add(): this { this.code.push(0x6a); return this; }
  i32Sub(): this { this.code.push(0x6b); return this; }
  i32Eqz(): this { this.code.push(0x45); return this; }
  block(): this { this.code.push(0x02, 0x40); return this; }
  loop(): this { this.code.push(0x03, 0x40); return this; }
  br(depth: number): this { this.code.push(0x0c, ...unsignedLeb(depth)); return this; }
  brIf(depth: number): this { this.code.push(0x0d, ...unsignedLeb(depth)); return this; }
  end(): this { this.code.push(0x0b); return this; }

  /** A SIMD instruction without immediates. */
  op(opcode: number): this { this.code.push(0xfd, ...unsignedLeb(opcode)); return this; }
  /** v128.load from (address on the stack + offset); align hint 0 since rows are not 16-byte aligned. */
  v128Load(offset: number): this { this.code.push(0xfd, ...unsignedLeb(simd.load), 0, ...unsignedLeb(offset)); return this; }
  v128Store(offset: number): this { this.code.push(0xfd, ...unsignedLeb(simd.store), 0, ...unsignedLeb(offset)); return this; }
  /** A 16-byte constant. */
  v128Const(bytes: Uint8Array): this {
    if (bytes.length !== 16) throw new Error('internal error: v128.const takes 16 bytes');
    this.code.push(0xfd, ...unsignedLeb(simd.const), ...bytes);
    return this;
  }
  shuffle(lanes: number[]): this {
    if (lanes.length !== 16) throw new Error('internal error: i8x16.shuffle takes 16 lane indices');
    this.code.push(0xfd, ...unsignedLeb(simd.shuffle), ...lanes);
    return this;
  }
}

export interface ModuleSpec {
  exportName: string;
  params: number[];
  /** Extra locals after the parameters, as [count, type] runs. */
  locals: Array<[number, number]>;
  body: FunctionBody;
  /** The imported memory's maximum size in 64 KiB pages. */
  memoryPages: number;
}

/**
 * A module importing a shared memory as `env.memory` and exporting one function taking
 * `params`, returning nothing.
 */
export function encodeModule(spec: ModuleSpec): Uint8Array<ArrayBuffer> {
  const typeSec = section(1, [1, 0x60, ...unsignedLeb(spec.params.length), ...spec.params, 0]);
  const importSec = section(2, [1, ...name('env'), ...name('memory'), 0x02, 0x03, ...unsignedLeb(1), ...unsignedLeb(spec.memoryPages)]);
  const funcSec = section(3, [1, 0]);
  const exportSec = section(7, [1, ...name(spec.exportName), 0x00, 0]);
  const localDecl = [...unsignedLeb(spec.locals.length), ...spec.locals.flatMap(([n, t]) => [...unsignedLeb(n), t])];
  const fn = [...localDecl, ...spec.body.code, 0x0b];
  const codeSec = section(10, [1, ...unsignedLeb(fn.length), ...fn]);
  return assembleModule([typeSec, importSec, funcSec, exportSec, codeSec]);
}
