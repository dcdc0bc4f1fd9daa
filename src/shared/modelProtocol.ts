/**
 * The Overview's "what is this model" data, as the host sends it (core/model's report, structurally):
 * the architecture with its evidence, parameters by part, memory figures with their formulas, and an
 * adapter's layers × module-types grid. Plain data; the webview imports only this file's types.
 */
export interface ModelDimsDto {
  readonly hiddenSize: number | null;
  readonly numLayers: number | null;
  readonly numAttentionHeads: number | null;
  readonly numKeyValueHeads: number | null;
  readonly headDim: number | null;
  readonly intermediateSize: number | null;
  readonly vocabSize: number | null;
  readonly numExperts: number | null;
  readonly tiedEmbeddings: boolean | null;
}

export interface EvidenceDto {
  readonly source: string;
  readonly claim: string;
}

export interface ArchitectureDto {
  readonly family: string;
  readonly variant: string | null;
  readonly kind: string;
  readonly evidence: readonly EvidenceDto[];
  readonly dims: ModelDimsDto;
  readonly undetermined: Readonly<Partial<Record<keyof ModelDimsDto, string>>>;
  readonly components: readonly {
    readonly prefix: string;
    readonly family: string;
    readonly variant: string | null;
    readonly kind: string;
    readonly tensorCount: number;
    readonly parameterCount: number;
  }[];
}

export interface ModelDto {
  readonly architecture: ArchitectureDto;
  readonly parts: {
    readonly parameters: number;
    readonly parts: readonly {
      readonly part: string;
      readonly label: string;
      readonly parameters: number;
    }[];
  };
  readonly memory: {
    readonly figures: readonly {
      readonly id: string;
      readonly label: string;
      readonly bytes: number | null;
      readonly formula: string;
      readonly note?: string;
      readonly reason?: string;
    }[];
  };
}

export interface CoverageDto {
  readonly columns: readonly string[];
  readonly rows: readonly {
    readonly key: string;
    readonly label: string;
    readonly cells: Readonly<
      Record<
        string,
        { readonly module: string; readonly rank: number | null; readonly norm: number | null }
      >
    >;
  }[];
  /** Rows left out of `rows` (very deep adapters); the Tensors tab still lists every module. */
  readonly moreRows: number;
  readonly modules: number;
  readonly trainableParameters: number;
  readonly trainableExact: boolean;
}

/** The Overview of an adapter: its base's model report, once a base is chosen. */
export interface BaseModelDto {
  readonly base: string | null;
  readonly model: ModelDto | null;
  /** Why there is no model (no base chosen, or the base could not be opened). */
  readonly note: string | null;
  /** What the adapter itself says it was trained for (kohya, ModelSpec, PEFT repo name), with the evidence. */
  readonly declared: {
    readonly family: string;
    readonly variant: string | null;
    readonly evidence: string;
  } | null;
}
