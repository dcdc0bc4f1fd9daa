/**
 * The smoke test's contract: what is asked (SmokeRequest), what comes back (SmokeReport), and what is
 * streamed while it runs (SmokeEvent). The engine (runSmoke), the child process that hosts
 * onnxruntime, the CLI and the editor all speak these shapes, so everything here is plain JSON.
 */
import type { HubOptions } from '../formats/hub.js';

/** Execution providers, in the order the ladder tries them by default. */
export type EpName = 'cuda' | 'webgpu' | 'cpu';
export const EP_LADDER: readonly EpName[] = ['cuda', 'webgpu', 'cpu'];

export interface SmokeRequest {
  /** Adapter file or folder (anything `openPath` accepts). */
  readonly adapterPath: string;
  /** Base model: file, folder, shard index, or `hf:org/name`. */
  readonly basePath: string;
  /** A reviewed mapping file; its entries are applied as overrides. */
  readonly mappingPath?: string;
  /** Overrides from the editor (user decisions), applied after the mapping file's. */
  readonly overrides?: readonly {
    readonly module: string;
    readonly target: string | null;
    readonly slice?: { readonly axis: 0 | 1; readonly start: number; readonly end: number } | null;
    readonly transposed?: boolean;
  }[];
  readonly hub?: HubOptions;
  /** Ladder to try, in order. One entry forces that EP. */
  readonly eps: readonly EpName[];
  /** Folder holding libonnxruntime_providers_{shared,cuda}.so, when not beside libonnxruntime. */
  readonly cudaProviderPath?: string;
  /**
   * Whole-model check: reference inputs and expected outputs (safetensors, tensors named
   * `input.<graph input>` and `output.<graph output>`). Only used when the base is ONNX.
   */
  readonly referencePath?: string;
  /** Only these adapter modules (default: every mapped module). */
  readonly modules?: readonly string[];
  /** Rows of the random batch fed to each module graph (default 4). */
  readonly batch?: number;
  /** Seed of the random batch (default 0): the same seed gives the same inputs. */
  readonly seed?: number;
  /** Skip the whole-model check even when the base is ONNX. */
  readonly skipModel?: boolean;
}

export interface EpAttempt {
  readonly ep: EpName;
  /** null when this EP ran; otherwise why it was not used (not present, failed to load, …). */
  readonly error: string | null;
}

/** One check of one module; `ok: false` fails the module. */
export interface SmokeCheck {
  readonly name: 'shape' | 'finite' | 'reference' | 'delta' | 'role' | 'load';
  readonly ok: boolean;
  /** Warnings do not fail the module (e.g. a tiny but non-zero delta). */
  readonly severity: 'error' | 'warning' | 'info';
  readonly message: string;
}

export type SmokeStatus = 'pass' | 'warn' | 'fail' | 'skipped';

export interface SmokeModuleResult {
  readonly module: string;
  readonly target: string | null;
  /** The graph variant that ran: linear, conv, embedding, dora-linear, … */
  readonly variant: string | null;
  readonly ok: boolean;
  readonly status: SmokeStatus;
  /** Max |ORT − float64 reference| over the checked rows; null when it did not run. */
  readonly maxAbsErr: number | null;
  /** ‖s·B·A·x‖ / ‖W·x‖ over the batch; null when it did not run. */
  readonly deltaRatio: number | null;
  readonly ms: number;
  readonly checks: readonly SmokeCheck[];
}

export interface SmokeModelOutput {
  readonly name: string;
  readonly shape: readonly number[];
  readonly finite: boolean;
  /** ‖merged − base‖ / ‖base‖. */
  readonly relativeChange: number;
  /** Against the reference outputs, when given. */
  readonly maxAbsErrVsReference: number | null;
  readonly ok: boolean;
}

export interface SmokeModelResult {
  readonly ok: boolean;
  readonly patched: number;
  readonly inputs: 'reference' | 'generated';
  readonly outputs: readonly SmokeModelOutput[];
  readonly ms: number;
  readonly problems: readonly string[];
}

export interface SmokeSwitchResult {
  readonly adapters: number;
  /** Mean ms to run with new A/B feeds on a cached session. */
  readonly switchMs: number;
  /** Mean ms to build a fresh session and run it. */
  readonly rebuildMs: number;
}

export interface SmokeReport {
  readonly ok: boolean;
  readonly ep: EpName | null;
  readonly epTried: readonly EpAttempt[];
  /** How placement on the EP was verified (profiling), or why it could not be. */
  readonly placement: string | null;
  readonly modules: readonly SmokeModuleResult[];
  readonly model: SmokeModelResult | null;
  /** Adapter switching on a cached session against a rebuild (whole-model check), when measured. */
  readonly switching: SmokeSwitchResult | null;
  readonly timings: {
    readonly totalMs: number;
    readonly sessionMs: number;
    readonly modulesMs: number;
    readonly modelMs: number;
  };
  /** One line: "42/42 modules pass on webgpu; model output changes by 3.1%". */
  readonly verdict: string;
  readonly warnings: readonly string[];
}

/** Bake an adapter into its base: `lora-lens merge`, "Export Merged ONNX Model…" and "Export Merged Model…". */
export interface MergeRequest {
  readonly adapterPath: string;
  /** The base: an ONNX model file (external data beside it), or any checkpoint the readers open. */
  readonly basePath: string;
  readonly mappingPath?: string;
  readonly overrides?: SmokeRequest['overrides'];
  readonly hub?: HubOptions;
  readonly outPath: string;
  /** Safetensors output only: the float dtype to write (default: the base's). */
  readonly dtype?: 'F32' | 'F16' | 'BF16';
}

export interface MergeReport {
  readonly out: string;
  /** Every file written: the model, and its external data file when the base has one. */
  readonly files: readonly string[];
  readonly patched: readonly {
    readonly initializer: string;
    readonly module: string;
    readonly transposed: boolean;
  }[];
  readonly bytes: number;
  readonly warnings: readonly string[];
  /** Safetensors output (a non-ONNX base): the float dtype written. */
  readonly dtype?: string;
  /** Safetensors output: tensors written. */
  readonly tensors?: number;
  /** Quantized or FP8 base weights written as floats, by scheme label. */
  readonly dequantized?: Readonly<Record<string, number>>;
  /** Things the user should know about the output (e.g. it is not re-quantized). */
  readonly notes?: readonly string[];
}

/** Streamed while the test runs (progress, and rows as they finish). */
export type SmokeEvent =
  | {
      readonly type: 'phase';
      readonly phase: 'open' | 'ep' | 'modules' | 'model';
      readonly message: string;
    }
  | { readonly type: 'ep'; readonly attempt: EpAttempt }
  | {
      readonly type: 'module';
      readonly index: number;
      readonly total: number;
      readonly result: SmokeModuleResult;
    };

/** Named failures of the smoke test itself (not of the adapter). */
export type SmokeErrorCode =
  | 'NoExecutionProvider' // every rung of the ladder failed
  | 'NothingToTest' // no mapped module of a supported kind
  | 'SmokeTimeout'
  | 'SmokeCancelled'
  | 'SmokeCrashed' // the child process died; the message carries its last stderr lines
  | 'OrtUnavailable' // onnxruntime-node could not be loaded
  | 'InvalidReference';

export class SmokeError extends Error {
  override readonly name = 'SmokeError';
  constructor(
    readonly code: SmokeErrorCode,
    message: string,
  ) {
    super(message);
  }
}
