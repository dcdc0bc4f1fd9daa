/**
 * The result of analysing a checkpoint as a LoRA adapter. Everything here is plain JSON (no Maps, no
 * undefined inside arrays) because `lora-lens inspect --json` prints it as is.
 */

/** Who wrote the file, judged from key layout, metadata and configs. */
export type LoraFamily =
  | 'peft' // base_model.model. + lora_A/lora_B (and PEFT's LoHa/LoKr/IA3/OFT names)
  | 'kohya' // sd-scripts / OneTrainer: lora_unet_*, lora_te*_ + lora_down/lora_up/alpha
  | 'lycoris' // LoHa / LoKr / (IA)³ / OFT / BOFT / full-diff, under kohya or BFL names
  | 'diffusers' // unet./text_encoder./transformer. components, old attn-processor names
  | 'bfl' // BFL Flux names, with or without ai-toolkit/ComfyUI's diffusion_model. prefix
  | 'xlabs' // XLabs Flux: double_blocks.N.processor.qkv_lora1.down.weight
  | 'mlx' // MLX-LM: lora_a [in, r] / lora_b [r, out], transposed
  | 'gguf' // llama.cpp adapter: general.type = adapter, blk.N.*.lora_a / lora_b
  | 'lora-diffusion' // cloneofsimo lora_diffusion: index keys unet:0:up
  | 'onnx' // Olive / ORT-GenAI adapters: transposed, scale baked into B
  | 'unknown' // adapter-like tensors in a layout no family explains
  | 'none'; // no adapter tensors at all (a base model, an optimizer dump, …)

export type LoraModuleKind =
  | 'linear'
  | 'conv'
  | 'embedding'
  | 'adalora'
  | 'loha'
  | 'lokr'
  | 'ia3'
  | 'oft'
  | 'boft'
  | 'full'
  | 'norm'
  | 'vera'
  | 'fourierft'
  | 'vblora'
  | 'randlora'
  | 'tinylora'
  | 'c3a'
  | 'waveft'
  | 'hra'
  | 'miss'
  | 'lntuning';

/**
 * How the low-rank pair is laid out. `standard`: down/A [r, in(, k, k)], up/B [out, r(, 1, 1)] (PEFT,
 * kohya, diffusers, BFL, GGUF in numpy order). `transposed`: down [in, r], up [r, out] (MLX, ONNX).
 * null for kinds without a pair (IA3, OFT, full, norm, LoKr/LoHa factors).
 */
export type LoraOrientation = 'standard' | 'transposed';

/** Where an alpha (and so the scale) came from. */
export type AlphaOrigin =
  | 'adapter_config' // r / lora_alpha (or alpha) in adapter_config.json
  | 'alpha_pattern' // a key of adapter_config alpha_pattern matched the module
  | 'lora_adapter_metadata' // diffusers: the PEFT config as JSON in safetensors metadata
  | 'tensor' // the module's own `.alpha` scalar, read
  | 'tensor-unread' // the module has an `.alpha` scalar; its value was not read
  | 'ss_network_alpha' // kohya metadata (conv_alpha from ss_network_args for k×k convs)
  | 'gguf' // adapter.lora.alpha
  | 'mlx_config' // adapter_config.json lora_parameters
  | 'default-rank' // nothing stored: the family's loaders use alpha = rank (scale 1)
  | 'scale-1' // nothing stored: the family applies B·A unscaled (any scale is baked into the weights)
  | 'not-applicable' // IA3 / OFT: no alpha/rank scale
  | 'unknown'; // the family keeps alpha elsewhere and it is missing (PEFT without adapter_config.json)

/** One candidate alpha for a module, kept even when another wins. */
export interface AlphaSource {
  readonly origin: AlphaOrigin;
  /** The config key, metadata key or tensor name it came from. */
  readonly key?: string;
  /** null when the source exists but its value is unknown (an unread tensor). */
  readonly alpha: number | null;
  readonly used: boolean;
  readonly note?: string;
}

/** An adapter-wide fact that feeds the scale (config fields, metadata keys). */
export interface AdapterScaleSource {
  readonly origin: AlphaOrigin;
  readonly key: string;
  readonly value: string | number | boolean;
}

export interface LoraModule {
  /** The tensors' common prefix as written in the file. */
  readonly name: string;
  /** The adapted module in the family's own naming (PEFT: without base_model.model.; kohya: as is). */
  readonly target: string;
  /** Target group inside a multi-part file: `lora_unet`, `lora_te1`, `transformer`, `text_encoder`, … */
  readonly group?: string;
  /** PEFT in-memory names carry the adapter name (`lora_A.default.weight`). */
  readonly adapter?: string;
  readonly kind: LoraModuleKind;
  /** Short human label: "linear", "DoRA linear", "conv 3×3", "LoKr conv 3×3", … */
  readonly label: string;
  readonly rank: number | null;
  readonly alpha: number | null;
  readonly scale: number | null;
  /** How `scale` follows from alpha and rank: "alpha/rank", "alpha/sqrt(rank)", "1", … */
  readonly scaleRule: string;
  readonly alphaOrigin: AlphaOrigin;
  readonly alphaSources: readonly AlphaSource[];
  readonly tensors: readonly string[];
  /** Part → tensor name: down, up, alpha, magnitude, dora_scale, hada_w1_a, lokr_w1, … */
  readonly parts: Readonly<Record<string, string>>;
  readonly orientation: LoraOrientation | null;
  readonly inFeatures: number | null;
  readonly outFeatures: number | null;
  /** Kernel size of conv kinds. */
  readonly kernel?: readonly number[];
  /**
   * DoRA magnitude. PEFT `lora_magnitude_vector` is per output row; kohya/LyCORIS `dora_scale` is
   * [1, in] (per input column) or [out, 1] (wd_on_out); a 1-D one cannot say.
   */
  readonly dora?: { readonly tensor: string; readonly axis: 'out' | 'in' | 'unknown' };
  /** Layer / block index, parsed from the target. */
  readonly layer?: { readonly stack: string; readonly index: number };
  /**
   * The adapter method (methods/registry.ts) and what it read from the config. `shared` names global
   * tensors the module uses but does not own (VeRA's vera_A / vera_B): they are not counted per module.
   */
  readonly method?: {
    readonly id: string;
    readonly label: string;
    readonly settings?: Readonly<Record<string, number | string | boolean | null>>;
    readonly shared?: Readonly<Record<string, string>>;
  };
}

export type NonLoraCategory =
  | 'modules-to-save' // PEFT modules_to_save full copies
  | 'embedding' // full embed_tokens / lm_head (resized vocabulary, save_embedding_layers)
  | 'trainable-tokens' // PEFT trainable_token_indices deltas
  | 'base-weight' // the frozen base weight (`base_layer.weight`)
  | 'norm' // norm weights / scales saved beside the adapter
  | 'full-weight' // any other full weight or bias
  | 'textual-inversion' // emb_params, string_to_param, clip_l/clip_g bundles, <s1>
  | 'optimizer' // optimizer state and hyper-parameters
  | 'scheduler' // learning-rate scheduler state
  | 'step-counter' // step / global_step / epoch
  | 'training-metadata' // ss_*, hyper_parameters, …
  | 'adapter-config' // metadata that holds the adapter's config (read for the scale)
  | 'orphan' // an adapter tensor without the rest of its module
  | 'other' // buffers, callbacks and the like
  | 'unrecognized';

export interface NonLoraEntry {
  /** A tensor name, or a group of metadata keys / values such as `ss_*`. */
  readonly name: string;
  readonly reason: string;
  readonly category: NonLoraCategory;
  readonly source: 'tensor' | 'metadata' | 'value';
  /** How many keys a metadata/value group stands for. */
  readonly count?: number;
}

export interface Histogram<T> {
  readonly value: T;
  readonly count: number;
}

export interface LoraSummary {
  readonly modules: number;
  readonly kinds: readonly Histogram<string>[];
  readonly ranks: readonly Histogram<number | null>[];
  readonly alphas: readonly Histogram<number | null>[];
  readonly scales: readonly Histogram<number | null>[];
  /** Module type (last path part: q_proj, to_k, img_attn_qkv) → count. */
  readonly targets: readonly Histogram<string>[];
  readonly groups: readonly Histogram<string>[];
  /** Sorted layer / block indices per stack (`model.layers`, `double_blocks`, …). */
  readonly layers: readonly { readonly stack: string; readonly indices: readonly number[] }[];
  /** dtype → tensor count over module tensors. */
  readonly dtypes: readonly Histogram<string>[];
  /** Elements in module tensors. */
  readonly parameters: number;
}

export interface LoraAnalysis {
  readonly family: LoraFamily;
  readonly familyLabel: string;
  /** The keys, metadata and configs that decided the family. */
  readonly evidence: readonly string[];
  readonly groups: readonly { readonly name: string; readonly modules: number }[];
  /** Adapter-wide inputs to the scale (config fields, metadata keys), whether used or not. */
  readonly scaleSources: readonly AdapterScaleSource[];
  readonly modules: readonly LoraModule[];
  readonly nonLora: readonly NonLoraEntry[];
  readonly warnings: readonly string[];
  readonly summary: LoraSummary;
}

export interface AnalyzeOptions {
  /** Reads one 0-d tensor (a per-module `.alpha`). Without it alphas stay "present, not read". */
  readonly readScalar?: (name: string) => Promise<number>;
}
