/**
 * Generates the WebAssembly SIMD kernel that median-subtracts rows of samples in place. A plain
 * JavaScript loop ranks about 0.2 GB/s per core here (one branchy sort per group per sample); the
 * kernel ranks eight groups per instruction without branches, several GB/s per core once V8 has
 * optimised it, so that reading and writing the file, not the arithmetic, set the pace.
 *
 * The module imports a shared memory (`env.memory`) so that every worker thread runs it over the
 * same buffers; the plan's constants sit at address 0. `run(rows, rowPtr, residualPtr)` rewrites
 * `rows` rows of `2 * numChannels` bytes from rowPtr and writes 24 int16 residuals per row from
 * residualPtr. Rows need no alignment.
 *
 * In place works because a row's group values are all loaded before any of its blocks is
 * stored, and a block store that runs past the row's end (channel counts that are not a
 * multiple of 8) writes the next row's first values back unchanged: those lanes have offset 0
 * and mask or scaling 0.
 */
import { constantLayout, groupCount, type ChannelPlan } from './channelPlan.js';
import { selectionNetwork } from './selectionNetwork.js';
import { valueType } from '../../lib/base/wasm.js';
import { FunctionBody, encodeModule, simd } from './wasmWriter.js';

/** Bytes a run may read or write past its last row (vector loads and stores near the row's end). */
export const kernelSlackBytes = 128;

/** 2^31 in each f32 lane: products at or beyond it in magnitude do not fit an int. */
const intRangeLimit = new Uint8Array(new Float32Array(4).fill(2 ** 31).buffer);

export type KernelRun = (rows: number, rowPtr: number, residualPtr: number) => void;

/** The module bytes for this plan, over a shared memory of at most `memoryPages` pages. */
export function buildKernel(plan: ChannelPlan, memoryPages: number): Uint8Array<ArrayBuffer> {
  const rowBytes = plan.numChannels * 2;
  const residualRowBytes = groupCount * 2;
  const consts = constantLayout(plan.slots, plan.blocks, plan.unitScaling);
  const network = selectionNetwork(plan.slots, plan.rank);

  const count = 0, row = 1, residualRow = 2;
  const slot = (j: number) => 3 + j;
  const residual = (t: number) => 3 + plan.slots + t;
  const scratch = 3 + plan.slots + 3;
  const product = scratch + 1;

  const f = new FunctionBody();
  const loadConst = (offset: number) => f.i32Const(0).v128Load(offset);

  f.block().loop();
  f.localGet(count).i32Eqz().brIf(1);

  for (let t = 0; t < 3; t++) {
    for (let j = 0; j < plan.slots; j++) {
      f.localGet(row).v128Load((groupCount * j + 8 * t) * 2);
      loadConst(consts.groupOffset(t, j)).op(simd.i16x8Sub);
      loadConst(consts.groupSentinel(t, j));
      loadConst(consts.groupKeep(t, j));
      f.op(simd.bitselect).localSet(slot(j));
    }
    for (const c of network) {
      const a = slot(c.low), b = slot(c.high);
      if (c.needLow && c.needHigh) {
        f.localGet(a).localGet(b).op(simd.i16x8MinS).localSet(scratch);
        f.localGet(a).localGet(b).op(simd.i16x8MaxS).localSet(b);
        f.localGet(scratch).localSet(a);
      } else if (c.needLow) {
        f.localGet(a).localGet(b).op(simd.i16x8MinS).localSet(a);
      } else {
        f.localGet(a).localGet(b).op(simd.i16x8MaxS).localSet(b);
      }
    }
    f.localGet(residualRow).localGet(slot(plan.rank)).v128Store(16 * t);
    f.localGet(slot(plan.rank)).localSet(residual(t));
  }

  // Channel block b covers channels 8b..8b+7 of the row, whose groups are 8(b%3)..8(b%3)+7.
  for (let b = 0; b < plan.blocks; b++) {
    f.localGet(row);
    f.localGet(row).v128Load(16 * b);
    loadConst(consts.blockOffset(b)).op(simd.i16x8Sub);
    const r = residual(b % 3);
    if (plan.unitScaling) {
      f.localGet(r);
      loadConst(consts.blockMask(b)).op(simd.and);
    } else {
      // int(float(r) * scaling), of which only the low 16 bits matter: the program stores into
      // int16. Where the product is out of int range, x86's conversion gives INT_MIN (low bits 0)
      // while trunc_sat saturates, so those lanes are zeroed.
      for (const [extend, scale] of [[simd.i32x4ExtendLowI16x8S, consts.blockScaleLow(b)], [simd.i32x4ExtendHighI16x8S, consts.blockScaleHigh(b)]]) {
        f.localGet(r).op(extend).op(simd.f32x4ConvertI32x4S);
        loadConst(scale).op(simd.f32x4Mul).localTee(product).op(simd.i32x4TruncSatF32x4S);
        f.localGet(product).op(simd.f32x4Abs).v128Const(intRangeLimit).op(simd.f32x4Lt).op(simd.and);
      }
      f.shuffle([0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29]);
    }
    f.op(simd.i16x8Sub).v128Store(16 * b);
  }

  f.localGet(row).i32Const(rowBytes).i32Add().localSet(row);
  f.localGet(residualRow).i32Const(residualRowBytes).i32Add().localSet(residualRow);
  f.localGet(count).i32Const(1).i32Sub().localSet(count);
  f.br(0).end().end();

  return encodeModule({
    exportName: 'run',
    params: [valueType.i32, valueType.i32, valueType.i32],
    locals: [[plan.slots + 5, valueType.v128]],
    body: f,
    memoryPages,
  });
}

/** Compiles the plan's kernel. An engine without WebAssembly SIMD cannot run this stage. */
export function compileKernel(plan: ChannelPlan, memoryPages: number): WebAssembly.Module {
  try {
    return new WebAssembly.Module(buildKernel(plan, memoryPages));
  } catch (err) {
    throw new Error(`internal error: this JavaScript engine rejected the median kernel (WebAssembly SIMD is required): ${(err as Error).message}`);
  }
}

export function instantiateKernel(module: WebAssembly.Module, memory: WebAssembly.Memory): KernelRun {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return instance.exports.run as KernelRun;
}

/**
 * V8 first runs WebAssembly with its baseline compiler (under 1 GB/s for this kernel) and
 * switches to optimised code (5-6 GB/s) only at a later call, once that code is compiled: a chunk
 * is run in pieces so that it can switch part-way rather than at the next chunk.
 */
const rowsPerCall = 1024;

export function runChunk(run: KernelRun, rows: number, rowPtr: number, residualPtr: number, rowBytes: number): void {
  for (let done = 0; done < rows; done += rowsPerCall) {
    run(Math.min(rowsPerCall, rows - done), rowPtr + done * rowBytes, residualPtr + done * groupCount * 2);
  }
}
