/**
 * What LoRA Lens knows about a model from its tensor names and shapes (and config.json, GGUF KV, ONNX
 * metadata, kohya `ss_*` when they are there). Every figure that the file does not determine is `null`,
 * with the reason in `undetermined`: the Overview says "not determined" rather than guess.
 */

/** Where a claim came from. */
export type EvidenceSource = 'names' | 'shapes' | 'config' | 'gguf' | 'onnx' | 'kohya';

export interface Evidence {
  readonly source: EvidenceSource;
  /** One sentence a person can check against the file, e.g. "32 blocks model.layers.0–31". */
  readonly claim: string;
}

/** The derived dimensions; `null` where the file does not determine them. */
export interface ModelDims {
  readonly hiddenSize: number | null;
  readonly numLayers: number | null;
  readonly numAttentionHeads: number | null;
  readonly numKeyValueHeads: number | null;
  readonly headDim: number | null;
  readonly intermediateSize: number | null;
  readonly vocabSize: number | null;
  /** Mixture-of-experts: experts per layer; 0 for a dense model. */
  readonly numExperts: number | null;
  /** The output head shares the embedding matrix (no separate lm_head tensor). */
  readonly tiedEmbeddings: boolean | null;
}

export type ModelKind =
  | 'causal-lm'
  | 'encoder'
  | 'encoder-decoder'
  | 'diffusion-unet'
  | 'diffusion-transformer'
  | 'text-encoder'
  | 'vae'
  | 'unknown';

/** One recognised model (or one part of a multi-part checkpoint: an SDXL file holds a UNet, two text encoders and a VAE). */
export interface ArchitectureComponent {
  /** Stable id: `llama`, `mistral`, `mixtral`, `qwen2`, `qwen3`, `gemma`, `gemma2`, `gemma3`, `phi`, `phi3`, `gpt2`,
   * `gpt_neox`, `opt`, `falcon`, `bert`, `roberta`, `t5`, `sd1`, `sd2`, `sdxl`, `sdxl-refiner`, `sd3`, `flux`,
   * `qwen-image`, `clip-l`, `openclip-g`, `t5-encoder`, `vae`, or `unknown`. */
  readonly family: string;
  /** The variant when the file says which (`Llama 3`, `Qwen2.5`, `Gemma 2`, `Flux.1 dev`, `SD 1.x`…); null otherwise. */
  readonly variant: string | null;
  readonly kind: ModelKind;
  /** Tensor-name prefix of this part inside the file ('' for the whole file). */
  readonly prefix: string;
  readonly evidence: readonly Evidence[];
  readonly dims: ModelDims;
  /** Why a dimension is null, by field name of ModelDims (e.g. numAttentionHeads: "no config and q/k/v share one width"). */
  readonly undetermined: Readonly<Partial<Record<keyof ModelDims, string>>>;
  /** Tensors this part covers. */
  readonly tensorCount: number;
  readonly parameterCount: number;
}

export interface ModelArchitecture {
  /** The main part's family (the UNet/transformer of a diffusion checkpoint; `unknown` when nothing is recognised). */
  readonly family: string;
  readonly variant: string | null;
  readonly kind: ModelKind;
  readonly evidence: readonly Evidence[];
  readonly dims: ModelDims;
  readonly undetermined: Readonly<Partial<Record<keyof ModelDims, string>>>;
  /** Every recognised part, the main one first. */
  readonly components: readonly ArchitectureComponent[];
}

/** What a recogniser reads: names and shapes, and the side information when it exists. */
export interface ModelFacts {
  readonly tensors: readonly { readonly name: string; readonly shape: readonly number[] }[];
  /** name → shape, for direct lookups. */
  readonly shapes: ReadonlyMap<string, readonly number[]>;
  /** config.json (parsed) when present beside the file or inside it. */
  readonly config: Readonly<Record<string, unknown>> | null;
  /** Safetensors `__metadata__`, GGUF KV (as strings), ONNX metadata_props, kohya `ss_*`. */
  readonly metadata: Readonly<Record<string, string>>;
  readonly format: string;
}

export const EMPTY_DIMS: ModelDims = {
  hiddenSize: null,
  numLayers: null,
  numAttentionHeads: null,
  numKeyValueHeads: null,
  headDim: null,
  intermediateSize: null,
  vocabSize: null,
  numExperts: null,
  tiedEmbeddings: null,
};
