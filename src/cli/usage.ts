/** The usage text of the commands main.ts lists in --help, kept apart so --help loads no command code. */
import { DEFAULT_TOLERANCE } from '../core/compare/tolerance.js';

/** How many entries of each section `diff` lists in text mode. */
export const DEFAULT_TEXT_LIMIT = 20;

export const diffUsage = `lora-lens diff <a> <b> [--norms] [--tolerance T] [--ignore-renames] [--limit N]
               [--hub-endpoint URL] [--json]
            Compare two checkpoints of any format (headers only, plus kohya's 0-d alpha scalars):
            keys only in A (lost), only in B (added), with another shape or dtype, and renamed
            keys (an adapter module's parts across namings, or the same normalised name and
            shape). For two adapters: modules paired by name, target, kohya-flattened name or
            the mapping engine, and per module rank / alpha / scale / method / shape changes.
            --norms also reads each paired module's factors: ‖ΔW_A‖, ‖ΔW_B‖, ‖ΔW_A − ΔW_B‖
            and the relative change (from r×r Grams, never an out×in matrix for LoRA pairs).
            They differ (exit 1) when any key is only on one side, a shape or dtype changed, a
            key was renamed, a module setting changed, or (with --norms) a module's
            ‖ΔW_A − ΔW_B‖ > T·max(‖ΔW_A‖, ‖ΔW_B‖) (--tolerance, default ${DEFAULT_TOLERANCE}). With
            --ignore-renames, renames and kohya .alpha scalars that only hold the alpha the
            other file keeps in its config do not count. Metadata is not compared. Exit 0 when
            nothing differs, 2 on invalid input. --limit N lists the first N of each section
            (text default ${DEFAULT_TEXT_LIMIT}; --json lists everything unless --limit is given).`;

export const resizeUsage = `lora-lens resize <adapter> --out <file|folder> (--rank N | --energy F | --ratio R)
            [--max-rank N] [--kohya] [--dtype f32|f16|bf16|f8_e4m3] [--json]
            Truncate each module's ΔW = scale·B·A to a smaller rank by its SVD (computed from r×r
            factorisations, never the out×in matrix). --rank N keeps N; --energy F the smallest rank
            keeping F of ‖ΔW‖_F (kohya sv_fro); --ratio R the singular values ≥ σmax/R (kohya
            sv_ratio); --max-rank caps the last two. --kohya picks ranks exactly as kohya's
            resize_lora.py (one more than the smallest that meets the rule). LoHa/LoKr become LoRA
            first; DoRA magnitudes are kept. Writes a weights-only adapter in the source's naming
            (PEFT: plus adapter_config.json; kohya: alpha tensors) and reports per module the rank
            before/after, retained energy, the dtype's relative error and bytes saved.`;

export const combineUsage = `lora-lens combine <a1> <a2> … --weights w1,w2,… --out <file|folder>
            [--method cat|svd] [--rank N] [--dtype f32|f16|bf16|f8_e4m3] [--json]
            One adapter whose ΔW is Σ wᵢ·ΔWᵢ per module (a module missing from an adapter counts
            as 0). cat (default) is exact: ranks add, each wᵢ·scaleᵢ folded into A, as PEFT's
            add_weighted_adapter "cat". svd re-factorises each sum to --rank (default: the largest
            input rank, PEFT's default) and reports the error. Adapters of different bases (by
            adapter_config or kohya metadata) or with different module shapes are refused; kohya and
            PEFT adapters of one model are matched by flattened module names.`;

/** How long `lora-lens smoke` waits by default before it stops the run. */
export const DEFAULT_SMOKE_TIMEOUT_S = 600;
