/**
 * The inner loop of the nearest-neighbour search as a WebAssembly SIMD kernel, hand-assembled at
 * load (no toolchain is needed to build the project): for every pair of rows, each pair once, the
 * approximate squared distance |a|^2 + |b|^2 - 2 a.b of centred points, and a call back into
 * JavaScript only when it beats a row's current worst candidate (rare once lists fill). Dot
 * products run over 4 x 4 row panels with f64x2 lanes, about three times the throughput of the
 * same loop in JavaScript.
 *
 * Layout in the module's memory (all float64): panels of 4 rows, each stored column-major
 * (for q: row0[q] row1[q] row2[q] row3[q]) so one v128 load reads two rows' values; then the
 * squared norms and the current worst candidate distance per row.
 */
import { assembleModule, compileModule, name, section, signedLeb, unsignedLeb, valueType, vector, wasmPageBytes } from '../base/wasm.js';

const { i32: I32, f64: F64, v128: V128 } = valueType;
const op = {
  block: 0x02, loop: 0x03, if: 0x04, end: 0x0b, br: 0x0c, brIf: 0x0d, call: 0x10,
  get: 0x20, set: 0x21, tee: 0x22,
  f64Load: 0x2b, i32Const: 0x41, f64Const: 0x44,
  i32Ne: 0x47, i32GeU: 0x4f, f64Lt: 0x63,
  i32Add: 0x6a, i32Mul: 0x6c, i32Shl: 0x74,
  f64Add: 0xa0, f64Mul: 0xa2,
  simd: 0xfd,
} as const;
const simd = { load: 0x00, const: 0x0c, f64x2Splat: 0x14, f64x2ExtractLane: 0x21, f64x2Lt: 0x49, or: 0x50, anyTrue: 0x53, f64x2Add: 0xf0, f64x2Mul: 0xf2 } as const;

// Locals: parameters first.
const L = {
  panels: 0, dp: 1, ct: 2, norm: 3, worst: 4, pStart: 5, pEnd: 6,
  p: 7, q: 8, k: 9, pa: 10, pb: 11, iBase: 12, jBase: 13, normI: 14, normJ: 15, worstI: 16, worstJ: 17, panelBytes: 18,
  a: 19,
  acc: 20, // 20..27
  b01: 28, b23: 29, s: 30, pairA: 31, minusTwo: 32,
} as const;

function kernelBody(): number[] {
  const c: number[] = [];
  const get = (l: number) => c.push(op.get, ...unsignedLeb(l));
  const set = (l: number) => c.push(op.set, ...unsignedLeb(l));
  const i32 = (v: number) => c.push(op.i32Const, ...signedLeb(v));
  const f64Load = (offset: number) => c.push(op.f64Load, 3, ...unsignedLeb(offset));
  const v128Load = (offset: number) => c.push(op.simd, ...unsignedLeb(simd.load), 4, ...unsignedLeb(offset));
  const s = (code: number, ...imm: number[]) => c.push(op.simd, ...unsignedLeb(code), ...imm);

  s(simd.const, ...Buffer.from(new Float64Array([-2, -2]).buffer)); set(L.minusTwo);
  // panelBytes = dp * 32
  get(L.dp); i32(5); c.push(op.i32Shl); set(L.panelBytes);
  // for p in pStart..pEnd
  get(L.pStart); set(L.p);
  c.push(op.block, 0x40, op.loop, 0x40);
  get(L.p); get(L.pEnd); c.push(op.i32GeU, op.brIf, 1);
  get(L.p); i32(2); c.push(op.i32Shl); set(L.iBase);
  get(L.norm); get(L.iBase); i32(3); c.push(op.i32Shl, op.i32Add); set(L.normI);
  get(L.worst); get(L.iBase); i32(3); c.push(op.i32Shl, op.i32Add); set(L.worstI);
  get(L.p); set(L.q);
  // for q in p..panels
  c.push(op.block, 0x40, op.loop, 0x40);
  get(L.q); get(L.panels); c.push(op.i32GeU, op.brIf, 1);
  get(L.q); i32(2); c.push(op.i32Shl); set(L.jBase);
  get(L.norm); get(L.jBase); i32(3); c.push(op.i32Shl, op.i32Add); set(L.normJ);
  get(L.worst); get(L.jBase); i32(3); c.push(op.i32Shl, op.i32Add); set(L.worstJ);
  for (let r = 0; r < 8; r++) { s(simd.const, ...new Array(16).fill(0)); set(L.acc + r); }
  get(L.ct); get(L.p); get(L.panelBytes); c.push(op.i32Mul, op.i32Add); set(L.pa);
  get(L.ct); get(L.q); get(L.panelBytes); c.push(op.i32Mul, op.i32Add); set(L.pb);
  // for k in 0..dp: accumulate the 4 x 4 dot products
  i32(0); set(L.k);
  c.push(op.block, 0x40, op.loop, 0x40);
  get(L.k); get(L.dp); c.push(op.i32GeU, op.brIf, 1);
  get(L.pb); v128Load(0); set(L.b01);
  get(L.pb); v128Load(16); set(L.b23);
  for (let r = 0; r < 4; r++) {
    get(L.pa); f64Load(r * 8); s(simd.f64x2Splat); set(L.s);
    get(L.acc + 2 * r); get(L.s); get(L.b01); s(simd.f64x2Mul); s(simd.f64x2Add); set(L.acc + 2 * r);
    get(L.acc + 2 * r + 1); get(L.s); get(L.b23); s(simd.f64x2Mul); s(simd.f64x2Add); set(L.acc + 2 * r + 1);
  }
  get(L.pa); i32(32); c.push(op.i32Add); set(L.pa);
  get(L.pb); i32(32); c.push(op.i32Add); set(L.pb);
  get(L.k); i32(1); c.push(op.i32Add); set(L.k);
  c.push(op.br, 0, op.end, op.end);
  // One pair (row r of panel p, column col of panel q) whose approximate distance is on the
  // stack: offer it to either row's list where it beats the current worst.
  const offerBoth = (r: number, col: number) => {
    set(L.a);
    for (const [row, worstBase, rowLane, otherBase, otherLane] of [
      [L.iBase, L.worstI, r, L.jBase, col], [L.jBase, L.worstJ, col, L.iBase, r],
    ] as const) {
      get(L.a); get(worstBase); f64Load(rowLane * 8); c.push(op.f64Lt, op.if, 0x40);
      get(row); i32(rowLane); c.push(op.i32Add);
      get(otherBase); i32(otherLane); c.push(op.i32Add);
      get(L.a); c.push(op.call, 0);
      c.push(op.end);
    }
  };
  // a = -2 dot + |i|^2 + |j|^2 for the lane pair (row r; columns 2h, 2h+1).
  const pairDistances = (r: number, h: number) => {
    get(L.acc + 2 * r + h); get(L.minusTwo); s(simd.f64x2Mul);
    get(L.normI); f64Load(r * 8); s(simd.f64x2Splat); s(simd.f64x2Add);
    get(L.normJ); v128Load(16 * h); s(simd.f64x2Add);
    set(L.pairA);
  };
  get(L.p); get(L.q); c.push(op.i32Ne, op.if, 0x40);
  // Off the diagonal: two pairs at a time, leaving the loop at once unless one beats a worst.
  for (let r = 0; r < 4; r++) {
    for (let h = 0; h < 2; h++) {
      pairDistances(r, h);
      get(L.pairA); get(L.worstI); f64Load(r * 8); s(simd.f64x2Splat); s(simd.f64x2Lt);
      get(L.pairA); get(L.worstJ); v128Load(16 * h); s(simd.f64x2Lt);
      s(simd.or); s(simd.anyTrue);
      c.push(op.if, 0x40);
      for (let lane = 0; lane < 2; lane++) { get(L.pairA); s(simd.f64x2ExtractLane, lane); offerBoth(r, 2 * h + lane); }
      c.push(op.end);
    }
  }
  c.push(0x05); // else: the diagonal panel, pairs with column > row only
  for (let r = 0; r < 4; r++) {
    for (let col = r + 1; col < 4; col++) {
      pairDistances(r, col >> 1);
      get(L.pairA); s(simd.f64x2ExtractLane, col & 1); offerBoth(r, col);
    }
  }
  c.push(op.end);
  get(L.q); i32(1); c.push(op.i32Add); set(L.q);
  c.push(op.br, 0, op.end, op.end);
  get(L.p); i32(1); c.push(op.i32Add); set(L.p);
  c.push(op.br, 0, op.end, op.end);
  c.push(op.end);
  const locals = vector([[...unsignedLeb(12), I32], [...unsignedLeb(1), F64], [...unsignedLeb(13), V128]]);
  const body = [...locals, ...c];
  return [...unsignedLeb(body.length), ...body];
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const offerType = [0x60, ...vector([[I32], [I32], [F64]]), ...vector([])];
  const kernelType = [0x60, ...vector([[I32], [I32], [I32], [I32], [I32], [I32], [I32]]), ...vector([])];
  return assembleModule([
    section(1, vector([offerType, kernelType])),
    section(2, vector([
      [...name('env'), ...name('mem'), 0x02, 0x00, ...unsignedLeb(1)],
      [...name('env'), ...name('offer'), 0x00, ...unsignedLeb(0)],
    ])),
    section(3, vector([unsignedLeb(1)])),
    section(7, vector([[...name('kernel'), 0x00, ...unsignedLeb(1)]])),
    section(10, vector([kernelBody()])),
  ]);
}

let compiled: WebAssembly.Module | null | undefined;

/** The compiled kernel, or null where WebAssembly SIMD is unavailable. */
function kernelModule(): WebAssembly.Module | null {
  if (compiled === undefined) compiled = compileModule(moduleBytes()) ?? null;
  return compiled;
}

export interface CandidateLists {
  /** n x kk approximate squared distances, ascending per row. */
  distance: Float64Array;
  index: Int32Array;
}

/**
 * Fill each row's kk best candidates by approximate squared distance, with c the centred points
 * (n x d, row-major) and norm their squared norms. Returns undefined when WebAssembly SIMD is not
 * available (the caller then runs its JavaScript loop).
 */
export function nearCandidatesWasm(c: Float64Array, norm: Float64Array, n: number, d: number, kk: number): CandidateLists | undefined {
  const mod = kernelModule();
  if (!mod) return undefined;
  const panels = Math.ceil(n / 4);
  const n4 = panels * 4;
  const dp = d;
  const ctBytes = panels * dp * 32;
  const bytes = ctBytes + n4 * 16;
  const memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / wasmPageBytes) + 1 });
  const f = new Float64Array(memory.buffer);
  for (let r = 0; r < n; r++) {
    const base = Math.floor(r / 4) * dp * 4 + (r % 4);
    for (let q = 0; q < d; q++) f[base + q * 4] = c[r * d + q];
  }
  const normAt = ctBytes / 8, worstAt = normAt + n4;
  for (let r = 0; r < n4; r++) {
    // Padding rows: infinitely far, and never accepting a candidate.
    f[normAt + r] = r < n ? norm[r] : Infinity;
    f[worstAt + r] = r < n ? Infinity : -Infinity;
  }
  const distance = new Float64Array(n * kk).fill(Infinity);
  const index = new Int32Array(n * kk).fill(-1);
  const offer = (row: number, other: number, dist2: number) => {
    const base = row * kk;
    let pos = kk - 1;
    while (pos > 0 && distance[base + pos - 1] > dist2) {
      distance[base + pos] = distance[base + pos - 1];
      index[base + pos] = index[base + pos - 1];
      pos--;
    }
    distance[base + pos] = dist2;
    index[base + pos] = other;
    f[worstAt + row] = distance[base + kk - 1];
  };
  const instance = new WebAssembly.Instance(mod, { env: { mem: memory, offer } });
  const kernel = instance.exports.kernel as (panels: number, dp: number, ct: number, norm: number, worst: number, pStart: number, pEnd: number) => void;
  // Many short calls rather than one long one: V8 starts WebAssembly in its baseline compiler and
  // swaps in optimised code only between calls.
  for (let p = 0; p < panels; p += 16) kernel(panels, dp, 0, ctBytes, ctBytes + n4 * 8, p, Math.min(panels, p + 16));
  return { distance, index };
}
