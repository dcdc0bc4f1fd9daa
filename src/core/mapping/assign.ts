/**
 * One-to-one assignment of modules (rows) to claimable columns (a parameter, or a row range of a
 * fused one) that maximises the total confidence. The candidate graph is sparse and splits into
 * small connected components; each component is solved exactly with the Hungarian algorithm
 * (Kuhn–Munkres with potentials, O(n²·m)), with one "no target" column per row so that a module may
 * stay unmatched. Maximum-weight over the whole graph = the sum of the per-component optima.
 */

export interface Edge {
  readonly column: string;
  readonly weight: number;
}

/** Row i → index into rows[i] of the chosen edge, or -1. */
export function assignMaxWeight(rows: readonly (readonly Edge[])[]): number[] {
  const result = new Array<number>(rows.length).fill(-1);
  // Union-find over columns, keyed by the first row that touches them.
  const parent = rows.map((_, i) => i);
  const find = (i: number): number => {
    let r = i;
    while (parent[r] !== r) r = parent[r] ?? r;
    for (let x = i; parent[x] !== r;) {
      const next = parent[x] ?? r;
      parent[x] = r;
      x = next;
    }
    return r;
  };
  const owner = new Map<string, number>();
  rows.forEach((edges, i) => {
    for (const e of edges) {
      const o = owner.get(e.column);
      if (o === undefined) owner.set(e.column, i);
      else parent[find(i)] = find(o);
    }
  });
  const components = new Map<number, number[]>();
  rows.forEach((edges, i) => {
    if (edges.length === 0) return;
    const r = find(i);
    const list = components.get(r);
    if (list) list.push(i);
    else components.set(r, [i]);
  });
  for (const members of components.values()) {
    if (members.length === 1) {
      const i = members[0] ?? 0;
      result[i] = bestEdge(rows[i] ?? []);
    } else if (members.length > MAX_EXACT_ROWS) sortedGreedy(members, rows, result);
    else solveComponent(members, rows, result);
  }
  return result;
}

/** Above this many rows in one component the O(n²·m) solve is replaced by a score-sorted greedy. */
const MAX_EXACT_ROWS = 400;

/** Highest-weight edge first over the whole component (a ½-approximation; only for huge components). */
function sortedGreedy(
  members: readonly number[],
  rows: readonly (readonly Edge[])[],
  result: number[],
): void {
  const all: { row: number; k: number; w: number }[] = [];
  for (const row of members) (rows[row] ?? []).forEach((e, k) => all.push({ row, k, w: e.weight }));
  all.sort((a, b) => b.w - a.w);
  const taken = new Set<string>();
  for (const { row, k, w } of all) {
    const column = rows[row]?.[k]?.column;
    if (w <= 0 || column === undefined || result[row] !== -1 || taken.has(column)) continue;
    result[row] = k;
    taken.add(column);
  }
}

function bestEdge(edges: readonly Edge[]): number {
  let best = -1;
  edges.forEach((e, k) => {
    if (e.weight > 0 && (best < 0 || e.weight > (edges[best]?.weight ?? 0))) best = k;
  });
  return best;
}

function solveComponent(
  members: readonly number[],
  rows: readonly (readonly Edge[])[],
  result: number[],
): void {
  const cols: string[] = [];
  const colIndex = new Map<string, number>();
  const weights = members.map((i) => {
    const w = new Map<number, number>();
    for (const e of rows[i] ?? []) {
      let c = colIndex.get(e.column);
      if (c === undefined) {
        c = cols.length;
        cols.push(e.column);
        colIndex.set(e.column, c);
      }
      if (e.weight > (w.get(c) ?? 0)) w.set(c, e.weight);
    }
    return w;
  });
  const n = members.length;
  const m = cols.length + n; // real columns, then one "no target" column per row (cost 0)
  const cost = (i: number, j: number): number => -(weights[i - 1]?.get(j - 1) ?? 0);
  const INF = Number.POSITIVE_INFINITY;
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  const p = new Int32Array(m + 1);
  const way = new Int32Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    const minv = new Float64Array(m + 1).fill(INF);
    const used = new Uint8Array(m + 1);
    do {
      used[j0] = 1;
      const i0 = p[j0] ?? 0;
      let delta = INF;
      let j1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = cost(i0, j) - (u[i0] ?? 0) - (v[j] ?? 0);
        if (cur < (minv[j] ?? INF)) {
          minv[j] = cur;
          way[j] = j0;
        }
        if ((minv[j] ?? INF) < delta) {
          delta = minv[j] ?? INF;
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          const r = p[j] ?? 0;
          u[r] = (u[r] ?? 0) + delta;
          v[j] = (v[j] ?? 0) - delta;
        } else minv[j] = (minv[j] ?? INF) - delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0] ?? 0;
      p[j0] = p[j1] ?? 0;
      j0 = j1;
    } while (j0 !== 0);
  }
  for (let j = 1; j <= cols.length; j++) {
    const i = p[j] ?? 0;
    if (i === 0) continue;
    const w = weights[i - 1]?.get(j - 1) ?? 0;
    if (w <= 0) continue;
    const row = members[i - 1] ?? 0;
    const column = cols[j - 1];
    const edges = rows[row] ?? [];
    let k = -1;
    edges.forEach((e, idx) => {
      if (e.column === column && (k < 0 || e.weight > (edges[k]?.weight ?? 0))) k = idx;
    });
    result[row] = k;
  }
}

/** First-come greedy (each row takes its best free column, in order): what the assignment must beat. */
export function assignGreedy(rows: readonly (readonly Edge[])[]): number[] {
  const taken = new Set<string>();
  return rows.map((edges) => {
    let best = -1;
    edges.forEach((e, k) => {
      if (
        !taken.has(e.column) &&
        e.weight > 0 &&
        (best < 0 || e.weight > (edges[best]?.weight ?? 0))
      )
        best = k;
    });
    const chosen = edges[best];
    if (chosen) taken.add(chosen.column);
    return best;
  });
}
