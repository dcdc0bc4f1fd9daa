import type { CheckpointInfo, PlainValue } from '../formats/checkpoint.js';

/** A metadata value, own keys only (hand-built records may have a prototype). */
export function metaValue(info: CheckpointInfo, key: string): string | undefined {
  return Object.prototype.hasOwnProperty.call(info.metadata, key) ? info.metadata[key] : undefined;
}

export type PlainObject = { [key: string]: PlainValue };

export function isPlainObject(v: PlainValue | undefined): v is PlainObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A parsed side file (`adapter_config.json`), when it is a JSON object. */
export function configObject(info: CheckpointInfo, file: string): PlainObject | undefined {
  const configs = info.configs;
  if (!configs || !Object.prototype.hasOwnProperty.call(configs, file)) return undefined;
  const v = configs[file];
  return isPlainObject(v) ? v : undefined;
}

/** JSON text inside a metadata string, when it parses to an object. */
export function metaJson(info: CheckpointInfo, key: string): PlainObject | undefined {
  const text = metaValue(info, key);
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text) as PlainValue;
    return isPlainObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** A finite number from a number or numeric string ("16", "1.0"); undefined otherwise. */
export function numberOf(v: PlainValue | undefined): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
