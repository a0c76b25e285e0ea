/**
 * Generates the WebAssembly SIMD kernel that median-subtracts a block of samples held in its
 * memory. A plain JavaScript loop ranks about 0.2 GB/s per core here (one branchy sort per group
 * per sample); the kernel ranks eight groups per instruction without branches, which is what it
 * takes to keep up with a file copy on two cores.
 *
 * Memory: [constants | input rows | output rows | residual rows], each row of the input and output
 * `2 * numChannels` bytes, each residual row 24 int16 values. Rows need no alignment.
 */
import { constantLayout, groupCount, type ChannelPlan } from './channelPlan.js';
import { selectionNetwork } from './selectionNetwork.js';
import { valueType, wasmPageBytes } from '../../lib/base/wasm.js';
import { FunctionBody, encodeModule, simd } from './wasmWriter.js';

export interface KernelLayout {
  maxSamples: number;
  rowBytes: number;
  inBase: number;
  outBase: number;
  residualBase: number;
  residualRowBytes: number;
  memoryPages: number;
}

export interface Kernel {
  bytes: Uint8Array;
  layout: KernelLayout;
}

// Vector loads of a row's last group triples and stores of its last block reach a little past
// the row; the slack keeps that inside the region (the extra lanes are masked or overwritten).
const slackBytes = 128;
/** Buffer address, file offset and length alignment that O_DIRECT needs on common file systems. */
export const directAlignment = 4096;

/** 2^31 in each f32 lane: products at or beyond it in magnitude do not fit an int. */
const intRangeLimit = new Uint8Array(new Float32Array(4).fill(2 ** 31).buffer);

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

export function kernelLayout(plan: ChannelPlan, maxSamples: number): KernelLayout {
  const rowBytes = plan.numChannels * 2;
  const residualRowBytes = groupCount * 2;
  // 4 KiB alignment lets the input be read and the output written with O_DIRECT.
  const inBase = align(plan.constants.length, directAlignment);
  const outBase = align(inBase + maxSamples * rowBytes + slackBytes, directAlignment);
  const residualBase = align(outBase + maxSamples * rowBytes + slackBytes, directAlignment);
  const end = residualBase + maxSamples * residualRowBytes;
  return { maxSamples, rowBytes, inBase, outBase, residualBase, residualRowBytes, memoryPages: Math.ceil(end / wasmPageBytes) };
}

/** Builds the module exporting `memory` and `run(sampleCount)`, processing rows from offset 0. */
export function buildKernel(plan: ChannelPlan, maxSamples: number): Kernel {
  const layout = kernelLayout(plan, maxSamples);
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
      f.localGet(row).v128Load(layout.inBase + (groupCount * j + 8 * t) * 2);
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
    f.localGet(residualRow).localGet(slot(plan.rank)).v128Store(layout.residualBase + 16 * t);
    f.localGet(slot(plan.rank)).localSet(residual(t));
  }

  // Channel block b covers channels 8b..8b+7 of the row, whose groups are 8(b%3)..8(b%3)+7.
  for (let b = 0; b < plan.blocks; b++) {
    f.localGet(row);
    f.localGet(row).v128Load(layout.inBase + 16 * b);
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
    f.op(simd.i16x8Sub).v128Store(layout.outBase + 16 * b);
  }

  f.localGet(row).i32Const(layout.rowBytes).i32Add().localSet(row);
  f.localGet(residualRow).i32Const(layout.residualRowBytes).i32Add().localSet(residualRow);
  f.localGet(count).i32Const(1).i32Sub().localSet(count);
  f.br(0).end().end();

  const bytes = encodeModule({
    exportName: 'run',
    params: [valueType.i32],
    locals: [[2, valueType.i32], [plan.slots + 5, valueType.v128]],
    body: f,
    memoryPages: layout.memoryPages,
  });
  return { bytes, layout };
}

/** An instantiated kernel with the plan's constants copied in. */
export interface KernelInstance {
  memory: WebAssembly.Memory;
  run(sampleCount: number): void;
  layout: KernelLayout;
}

export function instantiateKernel(module: WebAssembly.Module, layout: KernelLayout, constants: Uint8Array): KernelInstance {
  const instance = new WebAssembly.Instance(module, {});
  const memory = instance.exports.memory as WebAssembly.Memory;
  new Uint8Array(memory.buffer, 0, constants.length).set(constants);
  const run = instance.exports.run as (n: number) => void;
  return { memory, run, layout };
}
