/**
 * `resize`: each module's ΔW truncated to the rank a rule chooses (rankChoice.ts), through r×r
 * work only (lowRankSvd.ts), then written in the source's own naming with its scale kept. LoHa /
 * LoKr / AdaLoRA modules become plain LoRA first, with the conversion error reported; DoRA
 * magnitudes are copied unchanged.
 */
import type { Checkpoint } from '../formats/checkpoint.js';
import { openPath } from '../formats/index.js';
import { sourceFiles } from '../export/sourceFiles.js';
import type { StoreDtype } from './castReport.js';
import { analyseAdapter, assertLowRankable, readModule } from './factors.js';
import { lowRankSvd } from './lowRankSvd.js';
import { scaleStyle, type ScaleStyle } from './outputNaming.js';
import { chooseRank, retainedEnergy, tailNorm, validateRule, type RankRule } from './rankChoice.js';
import {
  prepareModule,
  writeAdapter,
  type OutputModule,
  type PreparedModule,
} from './writeAdapter.js';

export interface ResizeOptions {
  readonly rule: RankRule;
  /** Choose ranks exactly as kohya's resize_lora.py (one more than the smallest that meets the rule). */
  readonly kohya?: boolean;
  /** Stored dtype; by default the source's factor dtype (F32 when it has none of the four). */
  readonly dtype?: StoreDtype;
}

export interface ModuleResize {
  readonly name: string;
  readonly target: string;
  readonly label: string;
  readonly rankBefore: number;
  readonly rankAfter: number;
  /** ‖ΔWₖ‖_F / ‖ΔW‖_F: kohya's "fro retained". */
  readonly retained: number;
  /** ‖ΔW − ΔWₖ‖_F / ‖ΔW‖_F = √(Σ_{i>k} σᵢ²) / ‖σ‖ (Eckart–Young). */
  readonly truncationError: number;
  /** ‖ΔW_stored − ΔWₖ‖_F / ‖ΔWₖ‖_F from the output dtype. */
  readonly castError: number;
  /** Singular values of ΔW (scale included), descending. */
  readonly sigma: readonly number[];
  readonly conversion?: { readonly from: string; readonly relativeError: number };
  readonly alpha: number | null;
  readonly bytesBefore: number;
  readonly bytesAfter: number;
}

export interface ResizeReport {
  readonly source: string;
  readonly out: string;
  readonly weights: string;
  readonly config?: string;
  readonly family: string;
  readonly dtype: StoreDtype;
  readonly rule: RankRule;
  readonly kohya: boolean;
  readonly scaleStyle: ScaleStyle;
  readonly modules: readonly ModuleResize[];
  readonly totals: {
    readonly modules: number;
    readonly rankBefore: number;
    readonly rankAfter: number;
    readonly bytesBefore: number;
    readonly bytesAfter: number;
    readonly bytesSaved: number;
    /** √(Σ kept σ²) / √(Σ σ²) over all modules together. */
    readonly retained: number;
    readonly worstRetained: number;
    readonly worstCastError: number;
    readonly fileBytes: number;
  };
  readonly notes: readonly string[];
}

const STORABLE: ReadonlySet<string> = new Set(['F32', 'F16', 'BF16', 'F8_E4M3']);

/** The source's factor dtype when it is one of the four stored dtypes. */
export function sourceDtype(ckpt: Checkpoint, tensorNames: readonly string[]): StoreDtype {
  const first = tensorNames.map((n) => ckpt.tensor(n).dtype).find((d) => STORABLE.has(d));
  return (first as StoreDtype | undefined) ?? 'F32';
}

export async function resizeAdapter(
  sourcePath: string,
  out: string,
  options: ResizeOptions,
): Promise<ResizeReport> {
  const rule = validateRule(options.rule);
  const protect = await sourceFiles([sourcePath]);
  const ckpt = await openPath(sourcePath);
  try {
    const analysis = await analyseAdapter(ckpt);
    assertLowRankable(analysis, sourcePath);
    const style = scaleStyle(analysis, sourcePath);
    const dtype =
      options.dtype ??
      sourceDtype(
        ckpt,
        analysis.modules.map((m) => m.parts['down'] ?? m.tensors[0] ?? '').filter(Boolean),
      );
    const outputs: PreparedModule[] = [];
    const partial: Omit<ModuleResize, 'castError' | 'alpha' | 'bytesAfter'>[] = [];
    let sumAll = 0;
    let sumKept = 0;
    let anyMagnitude = false;
    // One module at a time: only the encoded output of the modules done so far is held.
    for (const module of analysis.modules) {
      const m = await readModule(ckpt, module);
      anyMagnitude ||= m.magnitude !== undefined;
      const svd = lowRankSvd(m.factors);
      // A converted LoHa / LoKr has the rank of its LoRA form, not of its own factors.
      const current = m.factors.rank;
      const k = chooseRank(svd.sigma, rule, Math.max(current, 1), options.kohya ?? false);
      const factors = svd.truncate(k);
      const s = Math.abs(m.factors.scale);
      const total = tailNorm(svd.sigma, 0);
      sumAll += total ** 2;
      sumKept += total ** 2 - tailNorm(svd.sigma, k) ** 2;
      const output: OutputModule = {
        template: m.module,
        kernel: m.kernel,
        factors,
        converted: m.conversion !== undefined,
        ...(m.magnitude ? { magnitude: { tensor: m.magnitude, checkpoint: ckpt } } : {}),
      };
      const keptNorm = Math.sqrt(Math.max(0, total ** 2 - tailNorm(svd.sigma, k) ** 2)) * s;
      outputs.push(prepareModule(output, style, analysis.family, dtype, keptNorm));
      partial.push({
        name: m.module.name,
        target: m.module.target,
        label: m.module.label,
        rankBefore: current,
        rankAfter: k,
        retained: retainedEnergy(svd.sigma, k),
        truncationError: total > 0 ? tailNorm(svd.sigma, k) / total : 0,
        sigma: [...svd.sigma].map((v) => v * s),
        ...(m.conversion ? { conversion: m.conversion } : {}),
        bytesBefore: m.module.tensors.reduce((n, t) => n + ckpt.tensor(t).byteLength, 0),
      });
    }
    const written = await writeAdapter({
      out,
      style,
      source: ckpt,
      modules: outputs,
      protect,
      notes: {
        'lora_lens.operation': 'resize',
        'lora_lens.source': sourcePath,
        'lora_lens.rule': JSON.stringify({ ...rule, kohya: options.kohya ?? false }),
      },
    });
    const modules: ModuleResize[] = partial.map((p, i) => {
      const w = written.modules[i];
      return {
        ...p,
        castError: w?.castError ?? 0,
        alpha: w?.alpha ?? null,
        bytesAfter: w?.bytes ?? 0,
      };
    });
    const bytesBefore = modules.reduce((n, m) => n + m.bytesBefore, 0);
    const bytesAfter = modules.reduce((n, m) => n + m.bytesAfter, 0);
    const notes: string[] = [];
    if (modules.some((m) => m.conversion))
      notes.push(
        'LoHa / LoKr / AdaLoRA modules were converted to plain LoRA factors before truncation',
      );
    if (anyMagnitude)
      notes.push(
        'DoRA magnitudes are copied unchanged; the DoRA norm is taken of W + the resized ΔW when loaded',
      );
    const dropped = analysis.nonLora.filter((e) => e.source === 'tensor').length;
    if (dropped > 0)
      notes.push(
        `${dropped} non-LoRA tensor(s) (modules_to_save, embeddings, optimizer state, …) are not part of the weights-only output`,
      );
    if (dtype === 'F8_E4M3')
      notes.push(
        "F8_E4M3: each factor is scaled by a power of two to use the format's range; the module alpha carries the inverse",
      );
    return {
      source: sourcePath,
      out,
      weights: written.weights,
      ...(written.config ? { config: written.config } : {}),
      family: analysis.family,
      dtype,
      rule,
      kohya: options.kohya ?? false,
      scaleStyle: style,
      modules,
      totals: {
        modules: modules.length,
        rankBefore: modules.reduce((n, m) => n + m.rankBefore, 0),
        rankAfter: modules.reduce((n, m) => n + m.rankAfter, 0),
        bytesBefore,
        bytesAfter,
        bytesSaved: bytesBefore - bytesAfter,
        retained: sumAll > 0 ? Math.sqrt(sumKept / sumAll) : 1,
        worstRetained: Math.min(...modules.map((m) => m.retained)),
        worstCastError: Math.max(0, ...modules.map((m) => m.castError)),
        fileBytes: written.bytes,
      },
      notes,
    };
  } finally {
    await ckpt.close();
  }
}
