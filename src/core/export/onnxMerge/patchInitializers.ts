/**
 * Rewrites one initializer block by block: read the rows a patch touches from the base, add ΔW in
 * float64, cast back to the stored dtype and hand the bytes to a sink that writes them at the same
 * place in the output. Elements no patch touches keep their original bytes exactly.
 */
import type { Checkpoint } from '../../formats/checkpoint.js';
import { decodeValues } from '../../formats/decode.js';
import { numberToBf16, numberToHalf } from '../../formats/encode.js';
import { CheckpointError } from '../../formats/errors.js';
import {
  applyDelta,
  blocks,
  doraNorms,
  loadFactors,
  patchRows,
  type Factors,
} from '../merge/deltas.js';
import type { MergePatch, PatchDtype } from '../merge/plan.js';

/** Writes `bytes` at byte `offset` of the initializer's data. */
export type PatchSink = (offset: number, bytes: Uint8Array) => Promise<void>;

/** Elements per block read and written. */
const BLOCK_ELEMENTS = 1 << 20;

const ELEMENT_BYTES: Record<PatchDtype, number> = { F32: 4, F16: 2, BF16: 2 };

/**
 * Writes the changed elements over a copy of the original bytes. Returns the index of the first
 * element whose value is not finite in the stored dtype (PEFT's safe_merge refuses the same), or -1.
 */
function encodeChanged(
  values: Float64Array,
  changed: Uint8Array,
  original: Uint8Array,
  dtype: PatchDtype,
): { bytes: Uint8Array; bad: number } {
  const bytes = original.slice();
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let k = 0; k < values.length; k++) {
    if (changed[k] !== 1) continue;
    const v = values[k] as number;
    if (dtype === 'F32') {
      const f = Math.fround(v);
      if (!Number.isFinite(f)) return { bytes, bad: k };
      dv.setFloat32(k * 4, f, true);
    } else if (dtype === 'F16') {
      const h = numberToHalf(v);
      if ((h & 0x7c00) === 0x7c00) return { bytes, bad: k };
      dv.setUint16(k * 2, h, true);
    } else {
      const b = numberToBf16(v);
      if ((b & 0x7f80) === 0x7f80) return { bytes, bad: k };
      dv.setUint16(k * 2, b, true);
    }
  }
  return { bytes, bad: -1 };
}

async function readRows(
  base: Checkpoint,
  p: MergePatch,
  first: number,
  count: number,
): Promise<{ raw: Uint8Array; values: Float64Array }> {
  const raw = await base.readTensorBytes(p.target, {
    start: first * p.cols,
    count: count * p.cols,
  });
  return { raw, values: decodeValues(raw, p.dtype as PatchDtype) };
}

/**
 * Merges every patch of one initializer (all `patches` share a target; the plan keeps them disjoint)
 * and passes the new bytes to `sink`.
 */
export async function patchInitializer(
  base: Checkpoint,
  adapter: Checkpoint,
  patches: readonly MergePatch[],
  sink: PatchSink,
  signal?: AbortSignal,
  /** Elements per block read and written (small in tests, to cross block edges). */
  blockElements = BLOCK_ELEMENTS,
): Promise<void> {
  const head = patches[0];
  if (!head) return;
  const loaded: { p: MergePatch; f: Factors; norms: Float64Array | null }[] = [];
  for (const p of patches) {
    const f = await loadFactors(adapter, p);
    loaded.push({
      p,
      f,
      norms: f.magnitude
        ? await doraNorms(
            async (first, count) => (await readRows(base, p, first, count)).values,
            p,
            f,
            signal,
            blockElements,
          )
        : null,
    });
  }
  const lo = Math.min(...patches.map((p) => patchRows(p)[0]));
  const hi = Math.max(...patches.map((p) => patchRows(p)[1]));
  // planMerge({ inPlace: true }) only lets F32, F16 and BF16 targets through.
  const dtype = head.dtype as PatchDtype;
  const size = ELEMENT_BYTES[dtype];
  for (const [first, count] of blocks(lo, hi, head.cols, blockElements)) {
    signal?.throwIfAborted();
    const { raw, values } = await readRows(base, head, first, count);
    const changed = new Uint8Array(values.length);
    for (const { p, f, norms } of loaded) applyDelta(p, f, values, first, count, changed, norms);
    const { bytes, bad } = encodeChanged(values, changed, raw, dtype);
    if (bad >= 0) {
      const row = first + Math.floor(bad / head.cols);
      const col = bad % head.cols;
      throw new CheckpointError(
        'InvalidExport',
        `merging ${patches.map((p) => p.module.name).join(', ')} into ${head.target.name} gives a non-finite ${head.dtype} value (${values[bad]}) at [${row}, ${col}]; nothing was written`,
        head.target.name,
      );
    }
    await sink(first * head.cols * size, bytes);
  }
}
