import {
  EMPTY_DIMS,
  type ArchitectureComponent,
  type Evidence,
  type EvidenceSource,
  type ModelDims,
  type ModelFacts,
  type ModelKind,
} from '../types.js';
import { numel, type BlockGroup, type RestStat } from './llmShapes.js';

type MutableDims = { -readonly [K in keyof ModelDims]: ModelDims[K] };
export type DimKey = keyof ModelDims;

/** Collects one component: the tensors it claims, its evidence, dims and the reasons for null dims. */
export class Part {
  readonly evidence: Evidence[] = [];
  readonly dims: MutableDims = { ...EMPTY_DIMS };
  private readonly reasons = new Map<DimKey, string>();
  private tensorCount = 0;
  private parameterCount = 0;
  private readonly claimed = new Set<string>();

  constructor(readonly facts: ModelFacts) {}

  /** Claims every rest of `group` that `vocab` names. */
  claimBlocks(group: BlockGroup, vocab: ReadonlySet<string>): void {
    for (const [key, stat] of group.rests) {
      if (!vocab.has(key)) continue;
      this.tensorCount += stat.count;
      this.parameterCount += stat.params;
    }
  }

  /** Claims a top-level tensor when it exists; returns its shape. */
  top(name: string): readonly number[] | undefined {
    const shape = this.facts.shapes.get(name);
    if (shape === undefined) return undefined;
    if (!this.claimed.has(name)) {
      this.claimed.add(name);
      this.tensorCount++;
      this.parameterCount += Array.isArray(shape) ? numel(shape) : 0;
    }
    return shape;
  }

  /** Claims each name that exists. */
  tops(names: readonly string[]): void {
    for (const n of names) this.top(n);
  }

  note(source: EvidenceSource, claim: string): void {
    this.evidence.push({ source, claim });
  }

  set<K extends DimKey>(key: K, value: ModelDims[K] | null, reason: string): void {
    this.dims[key] = value;
    if (value === null) this.reasons.set(key, reason);
  }

  /** A figure from config.json or metadata, over whatever the shapes gave. */
  assign(key: DimKey, value: number | boolean): void {
    (this.dims as Record<DimKey, number | boolean | null>)[key] = value;
  }

  /** Reasons for the dims that are still null. */
  undetermined(): Partial<Record<DimKey, string>> {
    const out: Partial<Record<DimKey, string>> = {};
    for (const k of Object.keys(this.dims) as DimKey[]) {
      if (this.dims[k] === null) out[k] = this.reasons.get(k) ?? 'not in the file';
    }
    return out;
  }

  finish(
    family: string,
    variant: string | null,
    kind: ModelKind,
    prefix: string,
  ): ArchitectureComponent {
    return {
      family,
      variant,
      kind,
      prefix,
      evidence: this.evidence,
      dims: { ...this.dims },
      undetermined: this.undetermined(),
      tensorCount: this.tensorCount,
      parameterCount: this.parameterCount,
    };
  }
}

/** "32 blocks model.layers.0–31" and numLayers from the highest index (a shard may lack some). */
export function layersOf(part: Part, group: BlockGroup): void {
  const path = `${group.pre}${group.container}`;
  const n = group.layerMax + 1;
  if (group.layers.size === n) {
    part.note('names', `${n} blocks ${path}.0–${group.layerMax}`);
  } else {
    part.note(
      'names',
      `${group.layers.size} blocks in ${path}.0–${group.layerMax}, ${n - group.layers.size} missing: numLayers from the highest index`,
    );
  }
  part.set('numLayers', n, '');
}

export function rowsOf(stat: RestStat | undefined): number | null {
  const d = stat?.shape[0];
  return d !== undefined && Number.isInteger(d) && d > 0 ? d : null;
}

export function colsOf(stat: RestStat | undefined): number | null {
  const d = stat?.shape[1];
  return d !== undefined && Number.isInteger(d) && d > 0 ? d : null;
}

/** `[a, b]` for evidence sentences. */
export function shapeText(shape: readonly number[] | undefined): string {
  return shape ? `[${shape.join(', ')}]` : '[]';
}

/** Head counts from a known head width: heads = q rows / headDim, kv = k rows / headDim, when whole. */
export function headsFrom(
  part: Part,
  headDim: number,
  qRows: number | null,
  kRows: number | null,
): void {
  part.set('headDim', headDim, '');
  const h = qRows !== null && qRows % headDim === 0 ? qRows / headDim : null;
  const kv = kRows !== null && kRows % headDim === 0 ? kRows / headDim : null;
  part.set(
    'numAttentionHeads',
    h,
    `q rows ${qRows ?? '?'} are not a multiple of head_dim ${headDim}`,
  );
  part.set(
    'numKeyValueHeads',
    kv,
    `k rows ${kRows ?? '?'} are not a multiple of head_dim ${headDim}`,
  );
  if (h !== null && kv !== null) {
    part.note(
      'shapes',
      `q ${qRows} rows / head_dim ${headDim} = ${h} heads; k ${kRows} rows = ${kv} KV heads`,
    );
  }
}

/** Head fields null with one reason. */
export function headsUnknown(part: Part, reason: string): void {
  part.set('headDim', null, reason);
  part.set('numAttentionHeads', null, reason);
  part.set('numKeyValueHeads', null, reason);
}

/** "k_proj 1024 rows vs q_proj 4096: GQA" (or MHA) when both widths are known. */
export function noteGqa(
  part: Part,
  qName: string,
  qRows: number | null,
  kName: string,
  kRows: number | null,
): void {
  if (qRows === null || kRows === null) return;
  if (kRows === qRows)
    part.note(
      'shapes',
      `${kName} ${kRows} rows = ${qName} ${qRows}: as many KV heads as query heads`,
    );
  else if (kRows < qRows && qRows % kRows === 0) {
    const r = qRows / kRows;
    part.note(
      'shapes',
      `${kName} ${kRows} rows vs ${qName} ${qRows}: GQA, ${r} query heads per KV head`,
    );
  }
}
