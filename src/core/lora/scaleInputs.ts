import type { CheckpointInfo } from '../formats/checkpoint.js';
import { configObject, isPlainObject, metaJson, metaValue, numberOf } from './checkpointFacts.js';
import { diffusersAdapterConfigs, peftAdapterConfig, type PeftScaleConfig } from './peftConfig.js';
import type { AdapterScaleSource } from './types.js';

/** kohya `ss_*` training metadata that names the network's dim and alpha. */
export interface KohyaScaleMeta {
  readonly dim?: number;
  readonly alpha?: number;
  /** `conv_dim` / `conv_alpha` from ss_network_args: what sd-scripts uses for k×k convs. */
  readonly convDim?: number;
  readonly convAlpha?: number;
}

/** MLX-LM adapter_config.json `lora_parameters`. */
export interface MlxScaleConfig {
  readonly rank?: number;
  readonly alpha?: number;
  readonly scale?: number;
}

/** Every adapter-wide input to the scale, read once per analysis. */
export interface ScaleInputs {
  readonly peft?: PeftScaleConfig;
  readonly diffusers: ReadonlyMap<string, PeftScaleConfig>;
  readonly kohya?: KohyaScaleMeta;
  /** adapter.lora.alpha; absent when the KV is missing. */
  readonly ggufAlpha?: number;
  readonly mlx?: MlxScaleConfig;
  readonly sources: readonly AdapterScaleSource[];
}

export function readScaleInputs(info: CheckpointInfo): ScaleInputs {
  const sources: AdapterScaleSource[] = [];
  const peft = peftAdapterConfig(info);
  if (peft) sources.push(...peftSources(peft));
  const diffusers = diffusersAdapterConfigs(info);
  for (const c of diffusers.values()) sources.push(...peftSources(c));
  const kohya = kohyaMeta(info, sources);
  const ggufText = metaValue(info, 'adapter.lora.alpha');
  const ggufAlpha = numberOf(ggufText);
  if (ggufText !== undefined)
    sources.push({ origin: 'gguf', key: 'adapter.lora.alpha', value: ggufAlpha ?? ggufText });
  const mlx = mlxConfig(info, sources);
  return {
    ...(peft ? { peft } : {}),
    diffusers,
    ...(kohya ? { kohya } : {}),
    ...(ggufAlpha !== undefined ? { ggufAlpha } : {}),
    ...(mlx ? { mlx } : {}),
    sources,
  };
}

function peftSources(c: PeftScaleConfig): AdapterScaleSource[] {
  const at = (field: string): string => `${c.where}: ${field}`;
  const out: AdapterScaleSource[] = [
    { origin: c.origin, key: at('r'), value: c.r },
    { origin: c.origin, key: at(c.alphaField), value: c.alpha },
  ];
  if (c.useRslora) out.push({ origin: c.origin, key: at('use_rslora'), value: true });
  for (const [p, v] of c.rankPattern)
    out.push({ origin: c.origin, key: at(`rank_pattern[${p}]`), value: v });
  for (const [p, v] of c.alphaPattern)
    out.push({ origin: 'alpha_pattern', key: at(`alpha_pattern[${p}]`), value: v });
  return out;
}

function kohyaMeta(
  info: CheckpointInfo,
  sources: AdapterScaleSource[],
): KohyaScaleMeta | undefined {
  const dimText = metaValue(info, 'ss_network_dim');
  const alphaText = metaValue(info, 'ss_network_alpha');
  const args = metaJson(info, 'ss_network_args');
  if (dimText === undefined && alphaText === undefined) return undefined;
  if (dimText !== undefined)
    sources.push({
      origin: 'ss_network_alpha',
      key: 'ss_network_dim',
      value: numberOf(dimText) ?? dimText,
    });
  if (alphaText !== undefined)
    sources.push({
      origin: 'ss_network_alpha',
      key: 'ss_network_alpha',
      value: numberOf(alphaText) ?? alphaText,
    });
  const convDim = numberOf(args?.['conv_dim']);
  const convAlpha = numberOf(args?.['conv_alpha']);
  if (convDim !== undefined)
    sources.push({ origin: 'ss_network_alpha', key: 'ss_network_args.conv_dim', value: convDim });
  if (convAlpha !== undefined)
    sources.push({
      origin: 'ss_network_alpha',
      key: 'ss_network_args.conv_alpha',
      value: convAlpha,
    });
  const dim = numberOf(dimText);
  const alpha = numberOf(alphaText);
  return {
    ...(dim !== undefined ? { dim } : {}),
    ...(alpha !== undefined ? { alpha } : {}),
    ...(convDim !== undefined ? { convDim } : {}),
    ...(convAlpha !== undefined ? { convAlpha } : {}),
  };
}

function mlxConfig(
  info: CheckpointInfo,
  sources: AdapterScaleSource[],
): MlxScaleConfig | undefined {
  const params = configObject(info, 'adapter_config.json')?.['lora_parameters'];
  if (!isPlainObject(params)) return undefined;
  const rank = numberOf(params['rank']);
  const alpha = numberOf(params['alpha']);
  const scale = numberOf(params['scale']);
  for (const [k, v] of [
    ['rank', rank],
    ['alpha', alpha],
    ['scale', scale],
  ] as const)
    if (v !== undefined)
      sources.push({
        origin: 'mlx_config',
        key: `adapter_config.json: lora_parameters.${k}`,
        value: v,
      });
  return {
    ...(rank !== undefined ? { rank } : {}),
    ...(alpha !== undefined ? { alpha } : {}),
    ...(scale !== undefined ? { scale } : {}),
  };
}
