/**
 * Delaunay triangulation of the probe's channel positions, the first half of scipy's griddata
 * 'cubic' (Qhull there). Points are inserted in (y, x) order: each new point lies outside the
 * triangulation so far, is joined to the hull edges it sees, and Lawson flips restore the empty
 * circumcircle property. The Allen positions are integers in micrometres, so the orientation and
 * in-circle determinants are exact in doubles (well below 2^53 for a 4 mm probe).
 *
 * Where four points lie on one circle the Delaunay triangulation is not unique: every missing
 * channel leaves such a rectangle (or trapezoid, at the probe's edge) of neighbours in the
 * Neuropixels layout. Qhull's pick there follows from the order its Quickhull added the points,
 * which is not reproduced here; this code takes the diagonal through the corner that comes first
 * in (y, x) order, which is Qhull's pick for about half of the missing sites tested (single sites
 * removed, the 3A reference channels, site 191 of 3B). Where they differ, the interpolated frame
 * differs by up to about 1-2% of its peak near that site; elsewhere it agrees to rounding.
 */

export interface Triangulation {
  x: Float64Array;
  y: Float64Array;
  /** Three vertex indices per triangle, counter-clockwise. */
  simplices: Int32Array;
  /** Per triangle, the triangle opposite each of its vertices, or -1 on the hull (scipy's `neighbors`). */
  neighbors: Int32Array;
  /** Adjacent vertices of each vertex (CSR: index[start[v] .. start[v+1]-1]), ascending. */
  neighborStart: Int32Array;
  neighborIndex: Int32Array;
}

export class TriangulationError extends Error {}

function orient(ax: number, ay: number, bx: number, by: number, cx: number, cy: number): number {
  return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax);
}

/** > 0 when d lies inside the circumcircle of the counter-clockwise triangle a, b, c. */
function inCircle(x: Float64Array, y: Float64Array, a: number, b: number, c: number, d: number): number {
  const adx = x[a] - x[d], ady = y[a] - y[d];
  const bdx = x[b] - x[d], bdy = y[b] - y[d];
  const cdx = x[c] - x[d], cdy = y[c] - y[d];
  const ad = adx * adx + ady * ady;
  const bd = bdx * bdx + bdy * bdy;
  const cd = cdx * cdx + cdy * cdy;
  return adx * (bdy * cd - bd * cdy) - ady * (bdx * cd - bd * cdx) + ad * (bdx * cdy - bdy * cdx);
}

export function delaunay(xs: ArrayLike<number>, ys: ArrayLike<number>): Triangulation {
  const n = xs.length;
  const x = Float64Array.from(xs);
  const y = Float64Array.from(ys);
  const tri: number[] = [];
  const alive: boolean[] = [];
  const edges = new Map<number, number>(); // directed edge a->b (a*n+b) -> triangle holding it
  const key = (a: number, b: number) => a * n + b;
  const addTri = (a: number, b: number, c: number): number => {
    const t = alive.length;
    tri.push(a, b, c);
    alive.push(true);
    edges.set(key(a, b), t);
    edges.set(key(b, c), t);
    edges.set(key(c, a), t);
    return t;
  };
  const removeTri = (t: number) => {
    alive[t] = false;
    const a = tri[3 * t], b = tri[3 * t + 1], c = tri[3 * t + 2];
    for (const [u, v] of [[a, b], [b, c], [c, a]]) if (edges.get(key(u, v)) === t) edges.delete(key(u, v));
  };

  /** Make the edge u->v of counter-clockwise triangle (p, u, v) Delaunay, flipping as needed. */
  const legalize = (p: number, u: number, v: number) => {
    const stack = [[p, u, v]];
    while (stack.length) {
      const [pp, uu, vv] = stack.pop()!;
      const t1 = edges.get(key(pp, uu)); // still (pp, uu, vv)?
      if (t1 === undefined || edges.get(key(uu, vv)) !== t1) continue;
      const t2 = edges.get(key(vv, uu));
      if (t2 === undefined) continue;
      const base = 3 * t2;
      const q = tri[base] !== vv && tri[base] !== uu ? tri[base] : tri[base + 1] !== vv && tri[base + 1] !== uu ? tri[base + 1] : tri[base + 2];
      if (inCircle(x, y, pp, uu, vv, q) <= 0) continue;
      removeTri(t1);
      removeTri(t2);
      addTri(pp, uu, q);
      addTri(pp, q, vv);
      stack.push([pp, uu, q], [pp, q, vv]);
    }
  };

  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => y[a] - y[b] || x[a] - x[b] || a - b);
  // Repeated positions add nothing to the triangulation (Qhull leaves them out too).
  const unique: number[] = [];
  for (const i of order) {
    const last = unique[unique.length - 1];
    if (last === undefined || x[last] !== x[i] || y[last] !== y[i]) unique.push(i);
  }
  let k = 2;
  while (k < unique.length && orient(x[unique[0]], y[unique[0]], x[unique[1]], y[unique[1]], x[unique[k]], y[unique[k]]) === 0) k++;
  if (k >= unique.length) {
    throw new TriangulationError(`the ${n} channel positions lie on one line; cubic interpolation needs a two-dimensional layout`);
  }

  // The collinear start and the first point off its line give the only possible fan.
  const next = new Int32Array(n).fill(-1);
  const prev = new Int32Array(n).fill(-1);
  const p0 = unique[k];
  const left = orient(x[unique[0]], y[unique[0]], x[unique[1]], y[unique[1]], x[p0], y[p0]) > 0;
  for (let i = 0; i + 1 < k; i++) {
    const a = unique[i], b = unique[i + 1];
    if (left) { addTri(a, b, p0); next[a] = b; prev[b] = a; }
    else { addTri(b, a, p0); next[b] = a; prev[a] = b; }
  }
  const first = unique[0], lastOfLine = unique[k - 1];
  if (left) { next[lastOfLine] = p0; prev[p0] = lastOfLine; next[p0] = first; prev[first] = p0; }
  else { next[first] = p0; prev[p0] = first; next[p0] = lastOfLine; prev[lastOfLine] = p0; }

  let hullStart = p0;
  for (let m = k + 1; m < unique.length; m++) {
    const p = unique[m];
    const sees = (a: number) => orient(x[a], y[a], x[next[a]], y[next[a]], x[p], y[p]) < 0;
    // The edges a point outside a convex polygon sees form one run: find where it starts.
    let a = hullStart;
    let guard = 0;
    while (!(sees(a) && !sees(prev[a]))) {
      a = next[a];
      if (++guard > n + 1) throw new Error('internal error: delaunay: no hull edge visible from a new point');
    }
    const runStart = a;
    const added: Array<[number, number]> = [];
    while (sees(a)) {
      const b = next[a];
      addTri(a, p, b);
      added.push([b, a]);
      if (a !== runStart) { next[a] = -1; prev[a] = -1; }
      a = b;
    }
    next[runStart] = p; prev[p] = runStart;
    next[p] = a; prev[a] = p;
    hullStart = p;
    for (const [u, v] of added) legalize(p, u, v);
  }

  // Ties: four points on one circle admit either diagonal; take the one through the corner first
  // in (y, x) order, whatever order the points came in. Each such flip makes the diagonal's first
  // corner earlier, so the passes end.
  const before = (a: number, b: number) => y[a] < y[b] || (y[a] === y[b] && x[a] < x[b]);
  for (let changed = true; changed;) {
    changed = false;
    for (let t = 0; t < alive.length; t++) {
      if (!alive[t]) continue;
      for (let j = 0; j < 3 && alive[t]; j++) {
        const p = tri[3 * t + j], u = tri[3 * t + (j + 1) % 3], v = tri[3 * t + (j + 2) % 3];
        const t2 = edges.get(key(v, u));
        if (t2 === undefined) continue;
        const q = [tri[3 * t2], tri[3 * t2 + 1], tri[3 * t2 + 2]].find((w) => w !== u && w !== v)!;
        if (inCircle(x, y, p, u, v, q) !== 0) continue;
        const first = [p, u, v, q].reduce((m, w) => (before(w, m) ? w : m));
        if (first !== p && first !== q) continue;
        removeTri(t);
        removeTri(t2);
        addTri(p, u, q);
        addTri(p, q, v);
        changed = true;
      }
    }
  }

  const live: number[] = [];
  for (let t = 0; t < alive.length; t++) if (alive[t]) live.push(t);
  const simplices = new Int32Array(live.length * 3);
  const renumber = new Map<number, number>();
  live.forEach((t, i) => {
    renumber.set(t, i);
    simplices.set(tri.slice(3 * t, 3 * t + 3), 3 * i);
  });
  const neighbors = new Int32Array(live.length * 3).fill(-1);
  for (let i = 0; i < live.length; i++) {
    for (let j = 0; j < 3; j++) {
      const u = simplices[3 * i + (j + 1) % 3], v = simplices[3 * i + (j + 2) % 3];
      const other = edges.get(key(v, u));
      if (other !== undefined) neighbors[3 * i + j] = renumber.get(other)!;
    }
  }
  const adjacent: Array<Set<number>> = Array.from({ length: n }, () => new Set());
  for (let i = 0; i < simplices.length; i += 3) {
    for (let j = 0; j < 3; j++) for (let l = 0; l < 3; l++) if (j !== l) adjacent[simplices[i + j]].add(simplices[i + l]);
  }
  const neighborStart = new Int32Array(n + 1);
  for (let v = 0; v < n; v++) neighborStart[v + 1] = neighborStart[v] + adjacent[v].size;
  const neighborIndex = new Int32Array(neighborStart[n]);
  for (let v = 0; v < n; v++) neighborIndex.set([...adjacent[v]].sort((a, b) => a - b), neighborStart[v]);
  return { x, y, simplices, neighbors, neighborStart, neighborIndex };
}
