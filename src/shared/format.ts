/** Number formatting shared by the CLI, the host and the webview (no Node or DOM APIs). */

// Made on first need: the first Intl object loads ICU data (tens of ms), which a CLI run rarely needs.
let grouped: Intl.NumberFormat | undefined;

/** "1234567" → "1,234,567". */
function groupDigits(digits: string): string {
  let out = digits.slice(0, ((digits.length - 1) % 3) + 1);
  for (let i = out.length; i < digits.length; i += 3) out += `,${digits.slice(i, i + 3)}`;
  return out;
}

/** 1234567 → "1,234,567", as Intl.NumberFormat('en-US') writes it (safe integers without ICU). */
export function formatInt(n: number): string {
  if (Number.isSafeInteger(n) && !Object.is(n, -0)) {
    const out = groupDigits(String(n < 0 ? -n : n));
    return n < 0 ? `-${out}` : out;
  }
  return (grouped ??= new Intl.NumberFormat('en-US')).format(n);
}

/**
 * `n.toLocaleString('en-US', { maximumFractionDigits })` without ICU for finite values from 1e-6 up
 * to 1e21: Intl rounds the shortest decimal that reads back as `n` (what String(n) writes, so 1.005
 * gives "1.01", not toFixed's "1.00"), half away from zero, and drops trailing zeros.
 */
export function formatDecimal(n: number, maximumFractionDigits: number): string {
  const abs = Math.abs(n);
  if (!Number.isFinite(n) || Object.is(n, -0) || abs >= 1e21 || (abs < 1e-6 && abs !== 0))
    return n.toLocaleString('en-US', { maximumFractionDigits });
  const s = String(abs);
  const dot = s.indexOf('.');
  let int = dot < 0 ? s : s.slice(0, dot);
  let frac = dot < 0 ? '' : s.slice(dot + 1);
  if (frac.length > maximumFractionDigits) {
    const up = (frac.charCodeAt(maximumFractionDigits) ?? 0) >= 53; // '5'
    frac = frac.slice(0, maximumFractionDigits);
    if (up) {
      // Add one at the last kept digit, carrying leftwards into the integer part.
      const digits = (int + frac).split('');
      let i = digits.length - 1;
      while (i >= 0 && digits[i] === '9') digits[i--] = '0';
      if (i < 0) digits.unshift('1');
      else digits[i] = String(Number(digits[i]) + 1);
      const joined = digits.join('');
      int = joined.slice(0, joined.length - frac.length);
      frac = joined.slice(joined.length - frac.length);
    }
    frac = frac.replace(/0+$/, '');
  }
  return `${n < 0 ? '-' : ''}${groupDigits(int)}${frac ? `.${frac}` : ''}`;
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
