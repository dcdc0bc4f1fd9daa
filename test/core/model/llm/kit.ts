import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LLM_RECOGNIZERS } from '../../../../src/core/model/llm/index.js';
import type {
  ArchitectureComponent,
  ModelDims,
  ModelFacts,
} from '../../../../src/core/model/types.js';

const DIR = join('test', 'fixtures', 'model', 'llm');

export interface Expected {
  readonly prefix: string;
  readonly family: string;
  readonly variant: string | null;
  readonly kind: string;
  readonly tensorCount: number;
  readonly parameterCount: number;
  readonly dims: ModelDims;
  readonly fromShapes: {
    readonly family: string;
    readonly variant: string | null;
    readonly dims: ModelDims;
  };
}

export interface Fixture {
  readonly file: string;
  readonly config: Record<string, unknown>;
  readonly tensors: Record<string, number[]>;
  readonly expected: Expected;
}

export function fixtures(): Fixture[] {
  return readdirSync(DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({
      file,
      ...(JSON.parse(readFileSync(join(DIR, file), 'utf8')) as Omit<Fixture, 'file'>),
    }));
}

export function factsOf(
  tensors: Record<string, number[]>,
  config: Record<string, unknown> | null = null,
  metadata: Record<string, string> = {},
  format = 'safetensors',
): ModelFacts {
  const list = Object.entries(tensors).map(([name, shape]) => ({ name, shape }));
  return {
    tensors: list,
    shapes: new Map(list.map((t) => [t.name, t.shape])),
    config,
    metadata,
    format,
  };
}

export const recognizeAll = (facts: ModelFacts): ArchitectureComponent[] =>
  LLM_RECOGNIZERS.flatMap((r) => r.recognize(facts));
