import { readFileSync, readdirSync } from 'node:fs';
import type { ModelFacts } from '../../../../src/core/model/types.js';

export const FIXTURES = 'test/fixtures/model/diffusion';

export interface Expected {
  readonly prefix: string;
  readonly family: string;
  readonly variant: string | null;
  readonly kind: string;
  readonly tensorCount: number;
  readonly parameterCount: number;
  readonly dims: Readonly<Record<string, number | boolean>>;
}

export interface Fixture {
  readonly file: string;
  readonly tensors: Readonly<Record<string, number[]>>;
  readonly expected: readonly Expected[];
}

export function fixtures(): Fixture[] {
  return readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => {
      const body = JSON.parse(readFileSync(`${FIXTURES}/${file}`, 'utf8')) as Omit<Fixture, 'file'>;
      return { file, tensors: body.tensors, expected: body.expected };
    });
}

export function factsOf(
  tensors: Readonly<Record<string, readonly number[]>>,
  config: Readonly<Record<string, unknown>> | null = null,
): ModelFacts {
  const list = Object.entries(tensors).map(([name, shape]) => ({ name, shape }));
  return {
    tensors: list,
    shapes: new Map(list.map((t) => [t.name, t.shape])),
    config,
    metadata: {},
    format: 'safetensors',
  };
}
