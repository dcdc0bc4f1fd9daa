/** Number formatting shared by the CLI, the host and the webview (no Node or DOM APIs). */

const grouped = new Intl.NumberFormat('en-US');

export function formatInt(n: number): string {
  return grouped.format(n);
}

/** 1536 → "1.5 KiB". Binary units, because file sizes in editors are usually shown that way. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[i]}`;
}

/** 7_241_732_096 → "7.24B"; small counts stay exact. */
export function formatCount(n: number): string {
  if (n < 1000) return String(n);
  const units: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'B'],
    [1e6, 'M'],
    [1e3, 'K'],
  ];
  for (const [size, suffix] of units) {
    if (n >= size) {
      const v = n / size;
      return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)}${suffix}`;
    }
  }
  return String(n);
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Compact index ranges: [0, 1, 2, 5, 6] → "0–2, 5–6". Indices must be sorted. */
export function formatRanges(indices: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < indices.length;) {
    let j = i;
    while (j + 1 < indices.length && (indices[j + 1] as number) === (indices[j] as number) + 1) j++;
    out.push(i === j ? String(indices[i]) : `${indices[i]}–${indices[j]}`);
    i = j + 1;
  }
  return out.join(', ');
}
