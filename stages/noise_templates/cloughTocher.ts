/**
 * scipy's `CloughTocher2DInterpolator` (what `griddata(..., method='cubic')` builds) on a
 * triangulation from delaunay.ts: a C1 piecewise-cubic Bezier surface per triangle, with vertex
 * gradients chosen to minimise the curvature along the edges (Nielson's global method, solved by
 * Gauss-Seidel sweeps over the vertices in input order until the change falls below 1e-6 or 400
 * sweeps pass), and edge cross-derivatives taken towards the neighbouring triangle's centroid, so
 * the surface does not depend on how the plane is scaled. Points outside the hull get `fillValue`.
 *
 * The arithmetic follows scipy's (same sums in the same order per vertex), so values agree with
 * scipy to rounding; the order in which each vertex's neighbours are summed is Qhull's there.
 */
import type { Triangulation } from './delaunay.js';

const eps = 100 * 2.220446049250313e-16;

/** Per-vertex constants of the gradient sweep, which depend on the geometry only. */
export interface GradientSystem {
  tri: Triangulation;
  ex: Float64Array;
  ey: Float64Array;
  l3: Float64Array;
  q0: Float64Array;
  q1: Float64Array;
  q3: Float64Array;
}

export function gradientSystem(tri: Triangulation): GradientSystem {
  const n = tri.x.length;
  const m = tri.neighborIndex.length;
  const ex = new Float64Array(m), ey = new Float64Array(m), l3 = new Float64Array(m);
  const q0 = new Float64Array(n), q1 = new Float64Array(n), q3 = new Float64Array(n);
  for (let p = 0; p < n; p++) {
    for (let j = tri.neighborStart[p]; j < tri.neighborStart[p + 1]; j++) {
      const p2 = tri.neighborIndex[j];
      const dx = tri.x[p2] - tri.x[p];
      const dy = tri.y[p2] - tri.y[p];
      const L = Math.sqrt(dx * dx + dy * dy);
      const L3 = L * L * L;
      ex[j] = dx; ey[j] = dy; l3[j] = L3;
      q0[p] += 4 * dx * dx / L3;
      q1[p] += 4 * dx * dy / L3;
      q3[p] += 4 * dy * dy / L3;
    }
  }
  return { tri, ex, ey, l3, q0, q1, q3 };
}

/** Vertex gradients [fx, fy] per vertex (scipy's estimate_gradients_2d_global). */
export function estimateGradients(sys: GradientSystem, values: ArrayLike<number>, tol = 1e-6, maxIter = 400): Float64Array {
  const { tri, ex, ey, l3, q0, q1, q3 } = sys;
  const n = tri.x.length;
  const g = new Float64Array(2 * n);
  for (let iter = 0; iter < maxIter; iter++) {
    let err = 0;
    for (let p = 0; p < n; p++) {
      const start = tri.neighborStart[p], end = tri.neighborStart[p + 1];
      if (start === end) continue; // a repeated position, outside every triangle
      let s0 = 0, s1 = 0;
      const f1 = values[p];
      for (let j = start; j < end; j++) {
        const p2 = tri.neighborIndex[j];
        const df2 = -ex[j] * g[2 * p2] - ey[j] * g[2 * p2 + 1];
        const w = 6 * (f1 - values[p2]) - 2 * df2;
        s0 += w * ex[j] / l3[j];
        s1 += w * ey[j] / l3[j];
      }
      const det = q0[p] * q3[p] - q1[p] * q1[p];
      const r0 = (q3[p] * s0 - q1[p] * s1) / det;
      const r1 = (-q1[p] * s0 + q0[p] * s1) / det;
      let change = Math.max(Math.abs(g[2 * p] + r0), Math.abs(g[2 * p + 1] + r1));
      g[2 * p] = -r0;
      g[2 * p + 1] = -r1;
      change /= Math.max(1, Math.max(Math.abs(r0), Math.abs(r1)));
      err = Math.max(err, change);
    }
    if (err < tol) break;
  }
  return g;
}

/** Barycentric coordinates of (px, py) in triangle t, scipy's way: relative to the third vertex. */
function barycentric(tri: Triangulation, t: number, px: number, py: number, out: Float64Array): void {
  const a = tri.simplices[3 * t], b = tri.simplices[3 * t + 1], c = tri.simplices[3 * t + 2];
  const t00 = tri.x[a] - tri.x[c], t01 = tri.x[b] - tri.x[c];
  const t10 = tri.y[a] - tri.y[c], t11 = tri.y[b] - tri.y[c];
  const det = t00 * t11 - t01 * t10;
  const dx = px - tri.x[c], dy = py - tri.y[c];
  out[0] = (t11 * dx - t01 * dy) / det;
  out[1] = (-t10 * dx + t00 * dy) / det;
  out[2] = 1 - out[0] - out[1];
}

/** Where each query point falls: its triangle (-1 outside) and barycentric coordinates. */
export interface PointLocations { simplex: Int32Array; bary: Float64Array }

export function locatePoints(tri: Triangulation, qx: ArrayLike<number>, qy: ArrayLike<number>): PointLocations {
  const m = qx.length;
  const nt = tri.simplices.length / 3;
  const simplex = new Int32Array(m).fill(-1);
  const bary = new Float64Array(3 * m);
  const c = new Float64Array(3);
  for (let i = 0; i < m; i++) {
    for (let t = 0; t < nt; t++) {
      barycentric(tri, t, qx[i], qy[i], c);
      // scipy accepts points within 100 ulp outside a triangle: points on the hull are inside.
      if (c[0] >= -eps && c[1] >= -eps && c[2] >= -eps && c[0] <= 1 + eps && c[1] <= 1 + eps && c[2] <= 1 + eps) {
        simplex[i] = t;
        bary.set(c, 3 * i);
        break;
      }
    }
  }
  return { simplex, bary };
}

/** The interpolant at a located point (scipy's _clough_tocher_2d_single). */
export function cloughTocherAt(
  tri: Triangulation, t: number, b: ArrayLike<number>, values: ArrayLike<number>, grad: Float64Array,
): number {
  const s = tri.simplices;
  const v0 = s[3 * t], v1 = s[3 * t + 1], v2 = s[3 * t + 2];
  const { x, y } = tri;
  const e12x = x[v1] - x[v0], e12y = y[v1] - y[v0];
  const e23x = x[v2] - x[v1], e23y = y[v2] - y[v1];
  const e31x = x[v0] - x[v2], e31y = y[v0] - y[v2];

  const f1 = values[v0], f2 = values[v1], f3 = values[v2];
  const df12 = +(grad[2 * v0] * e12x + grad[2 * v0 + 1] * e12y);
  const df21 = -(grad[2 * v1] * e12x + grad[2 * v1 + 1] * e12y);
  const df23 = +(grad[2 * v1] * e23x + grad[2 * v1 + 1] * e23y);
  const df32 = -(grad[2 * v2] * e23x + grad[2 * v2 + 1] * e23y);
  const df31 = +(grad[2 * v2] * e31x + grad[2 * v2 + 1] * e31y);
  const df13 = -(grad[2 * v0] * e31x + grad[2 * v0 + 1] * e31y);

  const c3000 = f1;
  const c2100 = (df12 + 3 * c3000) / 3;
  const c2010 = (df13 + 3 * c3000) / 3;
  const c0300 = f2;
  const c1200 = (df21 + 3 * c0300) / 3;
  const c0210 = (df23 + 3 * c0300) / 3;
  const c0030 = f3;
  const c1020 = (df31 + 3 * c0030) / 3;
  const c0120 = (df32 + 3 * c0030) / 3;
  const c2001 = (c2100 + c2010 + c3000) / 3;
  const c0201 = (c1200 + c0300 + c0210) / 3;
  const c0021 = (c1020 + c0120 + c0030) / 3;

  // Cross-boundary derivative towards the neighbour's centroid (affine invariant, shared by both
  // triangles of an edge, hence C1); on the hull, g = -1/2 as scipy 1.10 has it (older scipy: -2/3).
  const g = [-1 / 2, -1 / 2, -1 / 2];
  const c = new Float64Array(3);
  for (let k = 0; k < 3; k++) {
    const other = tri.neighbors[3 * t + k];
    if (other === -1) continue;
    const cx = (x[s[3 * other]] + x[s[3 * other + 1]] + x[s[3 * other + 2]]) / 3;
    const cy = (y[s[3 * other]] + y[s[3 * other + 1]] + y[s[3 * other + 2]]) / 3;
    barycentric(tri, t, cx, cy, c);
    if (k === 0) g[0] = (2 * c[2] + c[1] - 1) / (2 - 3 * c[2] - 3 * c[1]);
    else if (k === 1) g[1] = (2 * c[0] + c[2] - 1) / (2 - 3 * c[0] - 3 * c[2]);
    else g[2] = (2 * c[1] + c[0] - 1) / (2 - 3 * c[1] - 3 * c[0]);
  }

  const c0111 = (g[0] * (-c0300 + 3 * c0210 - 3 * c0120 + c0030) + (-c0300 + 2 * c0210 - c0120 + c0021 + c0201)) / 2;
  const c1011 = (g[1] * (-c0030 + 3 * c1020 - 3 * c2010 + c3000) + (-c0030 + 2 * c1020 - c2010 + c2001 + c0021)) / 2;
  const c1101 = (g[2] * (-c3000 + 3 * c2100 - 3 * c1200 + c0300) + (-c3000 + 2 * c2100 - c1200 + c2001 + c0201)) / 2;
  const c1002 = (c1101 + c1011 + c2001) / 3;
  const c0102 = (c1101 + c0111 + c0201) / 3;
  const c0012 = (c1011 + c0111 + c0021) / 3;
  const c0003 = (c1002 + c0102 + c0012) / 3;

  // Extended barycentric coordinates: the sub-triangle of the split containing the point.
  const minval = Math.min(b[0], b[1], b[2]);
  const b1 = b[0] - minval, b2 = b[1] - minval, b3 = b[2] - minval, b4 = 3 * minval;
  return b1 ** 3 * c3000 + 3 * b1 ** 2 * b2 * c2100 + 3 * b1 ** 2 * b3 * c2010
    + 3 * b1 ** 2 * b4 * c2001 + 3 * b1 * b2 ** 2 * c1200
    + 6 * b1 * b2 * b4 * c1101 + 3 * b1 * b3 ** 2 * c1020 + 6 * b1 * b3 * b4 * c1011
    + 3 * b1 * b4 ** 2 * c1002 + b2 ** 3 * c0300 + 3 * b2 ** 2 * b3 * c0210
    + 3 * b2 ** 2 * b4 * c0201 + 3 * b2 * b3 ** 2 * c0120 + 6 * b2 * b3 * b4 * c0111
    + 3 * b2 * b4 ** 2 * c0102 + b3 ** 3 * c0030 + 3 * b3 ** 2 * b4 * c0021
    + 3 * b3 * b4 ** 2 * c0012 + b4 ** 3 * c0003;
}
