import type { CheckpointInfo, PlainValue } from '../formats/checkpoint.js';
import type { ModelFacts } from './types.js';

type Config = Readonly<Record<string, unknown>>;

function isObject(v: PlainValue | undefined): v is { [key: string]: PlainValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The config that describes the model: `config.json` beside the file, else a JSON `config` in the
 * safetensors metadata (some exporters put it there). `adapter_config.json` describes an adapter, not
 * the model, and is left out.
 */
function modelConfig(info: CheckpointInfo): Config | null {
  const side = info.configs;
  if (side && Object.prototype.hasOwnProperty.call(side, 'config.json')) {
    const v = side['config.json'];
    if (isObject(v)) return v;
  }
  const meta = Object.prototype.hasOwnProperty.call(info.metadata, 'config')
    ? info.metadata['config']
    : undefined;
  if (meta !== undefined && meta.length < 1_000_000) {
    try {
      const v = JSON.parse(meta) as PlainValue;
      if (isObject(v)) return v;
    } catch {
      // Not JSON: an exporter's free text; the shapes still speak.
    }
  }
  return null;
}

/** What the recognisers read, from an opened checkpoint's header (no tensor data). */
export function modelFacts(info: CheckpointInfo): ModelFacts {
  // The tensors themselves, not copies: the recognisers read only name and shape.
  return factsFrom(info.tensors, modelConfig(info), info.metadata, info.format);
}

export function factsFrom(
  tensors: readonly { readonly name: string; readonly shape: readonly number[] }[],
  config: Config | null,
  metadata: Readonly<Record<string, string>>,
  format: string,
): ModelFacts {
  const shapes = new Map<string, readonly number[]>();
  for (const t of tensors) shapes.set(t.name, t.shape);
  return { tensors, shapes, config, metadata, format };
}
