import { unsupportedByTensor } from './methods/unsupported.js';
import type { CheckpointInfo, TensorInfo } from '../formats/checkpoint.js';
import { PEFT_PREFIX } from './familyDetection.js';
import type { LoraFamily, NonLoraCategory, NonLoraEntry } from './types.js';

export interface NonLoraContext {
  readonly family: LoraFamily;
  /** adapter_config.json modules_to_save. */
  readonly modulesToSave: readonly string[];
}

const OPTIMIZER_WORDS =
  /(^|\.)(optimizers?|optimizer_states?|optimizer_state_dict|optim|optim_state)(\.|$)/;
const SCHEDULER_WORDS =
  /(^|\.)(lr_schedulers?|schedulers?|scheduler_state_dict|lr_scheduler_state_dict)(\.|$)/;
const STEP_WORDS =
  /^(step|steps|global_step|epoch|iteration|iter|num_steps|num_updates|current_epoch)$/;
const EMBEDDING_WORDS =
  /(^|\.)(embed_tokens|lm_head|wte|word_embeddings|embed_out|tok_embeddings|token_embd)(\.|$)|^(shared|output)\.weight$/;
const NORM_WORDS = /norm|(^|\.)ln_(\d+|f)(\.|$)/i;
const TEXTUAL_INVERSION =
  /(^|\.)(emb_params|string_to_param|string_to_token|clip_l|clip_g|bundle_emb)(\.|$)|^<[^>]+>$/;

function entry(name: string, category: NonLoraCategory, reason: string): NonLoraEntry {
  return { name, reason, category, source: 'tensor' };
}

const verdict = (category: NonLoraCategory, reason: string): Verdict => ({ category, reason });

/** PEFT names a modules_to_save copy by the module's own path (module key = m, or ends with ".m"). */
function savedModule(path: string, modulesToSave: readonly string[]): string | undefined {
  if (modulesToSave.length === 0) return undefined;
  const module = path.replace(/\.(weight|bias)$/, '');
  return modulesToSave.find((m) => module === m || module.endsWith(`.${m}`));
}

/** Why a tensor that is not part of an adapter module is in the file. */
export function classifyTensor(t: TensorInfo, ctx: NonLoraContext): NonLoraEntry {
  const { category, reason } = classifyUncached(t, ctx);
  return entry(t.name, category, reason);
}

interface Verdict {
  readonly category: NonLoraCategory;
  readonly reason: string;
}

/**
 * The name with every all-digit segment written "0", or null when the last segment is all digits (the
 * reason may quote it). No pattern here tells one number from another, so `layers.7.mlp.up.weight`
 * and `layers.8.mlp.up.weight` classify alike and a model's thousands of layers share a few keys.
 */
function digitTemplate(name: string): string | null {
  let out = '';
  let copied = 0;
  let start = 0;
  let digits = true;
  for (let i = 0; i <= name.length; i++) {
    const c = i < name.length ? name.charCodeAt(i) : 0x2e;
    if (c !== 0x2e) {
      if (c < 0x30 || c > 0x39) digits = false;
      continue;
    }
    if (digits && i > start) {
      if (i === name.length) return null;
      if (!(i - start === 1 && name.charCodeAt(start) === 0x30)) {
        out += `${name.slice(copied, start)}0`;
        copied = i;
      }
    }
    start = i + 1;
    digits = true;
  }
  return copied === 0 ? name : out + name.slice(copied);
}

/**
 * classifyTensor's verdict through a cache keyed by the name's digit template, the role and whether
 * the tensor holds at most one element (all the rest of the tensor it reads). Without
 * modules_to_save only (those are matched against the exact module path). Stops growing at `limit`.
 */
export function cachedClassifier(ctx: NonLoraContext, limit = 65_536): (t: TensorInfo) => Verdict {
  if (ctx.modulesToSave.length) return (t) => classifyUncached(t, ctx);
  // One map of templates per (role, scalar or not): no key string is built per tensor.
  const caches = new Map<string, Map<string, Verdict>>();
  let size = 0;
  return (t) => {
    const template = digitTemplate(t.name);
    if (template === null) return classifyUncached(t, ctx);
    const shape = t.shape;
    let n = 1;
    for (let i = 0; i < shape.length; i++) n *= shape[i] as number;
    const group = n <= 1 ? (t.role ?? '') + '|1' : (t.role ?? '');
    let cache = caches.get(group);
    if (cache === undefined) caches.set(group, (cache = new Map()));
    let v = cache.get(template);
    if (v === undefined) {
      v = classifyUncached(t, ctx);
      if (size < limit) {
        cache.set(template, v);
        size++;
      }
    }
    return v;
  };
}

function classifyUncached(t: TensorInfo, ctx: NonLoraContext): Verdict {
  const name = t.name;
  const last = name.slice(name.lastIndexOf('.') + 1);
  // Each pattern is tested once: a model file sends every one of its tensors through here.
  const optimizer = OPTIMIZER_WORDS.test(name);
  const scheduler = SCHEDULER_WORDS.test(name);
  if (t.role === 'optimizer' || optimizer || scheduler) {
    if (scheduler && !optimizer) return verdict('scheduler', 'learning-rate scheduler state');
    if (STEP_WORDS.test(last))
      return verdict('optimizer', 'optimizer step counter (per-parameter state)');
    return verdict('optimizer', `optimizer state (${last})`);
  }
  let numel = 1;
  for (const d of t.shape) numel *= d;
  if (numel <= 1 && STEP_WORDS.test(last))
    return verdict('step-counter', `training ${last} counter`);
  if (TEXTUAL_INVERSION.test(name))
    return verdict('textual-inversion', 'textual-inversion embedding saved with the adapter');
  if (name.includes('trainable_tokens_delta'))
    return verdict(
      'trainable-tokens',
      'PEFT trainable_token_indices: new rows for chosen token ids',
    );

  const peftAt = name.indexOf(PEFT_PREFIX);
  const path = peftAt >= 0 ? name.slice(peftAt + PEFT_PREFIX.length) : name;
  const saved = savedModule(path, ctx.modulesToSave);
  if (saved)
    return verdict('modules-to-save', `full copy of ${saved} (adapter_config modules_to_save)`);
  const unsupported = unsupportedByTensor(name);
  if (unsupported)
    return verdict(
      'unrecognized',
      `a PEFT ${unsupported.label} tensor: LoRA Lens does not support ${unsupported.label} adapters yet`,
    );
  if (EMBEDDING_WORDS.test(path))
    return verdict(
      'embedding',
      'full embedding / output weights saved beside the adapter (embedding layer targeted or vocabulary resized)',
    );
  if (/\.base_layer\.(weight|bias)$/.test(name))
    return verdict(
      'base-weight',
      'the frozen base weight under an adapter layer (in-memory PEFT naming)',
    );
  if (NORM_WORDS.test(path))
    return verdict('norm', 'norm weights saved beside the adapter (replace the base ones)');
  if (t.role === 'buffer') return verdict('other', 'a buffer, not a trained weight');
  if (t.role === 'other') return verdict('other', 'training-loop state (callbacks, loops)');
  if (/\.(weight|bias)$/.test(name) || ctx.family === 'none')
    return verdict('full-weight', 'a full weight saved beside the adapter, not a low-rank factor');
  return verdict('unrecognized', 'no adapter suffix and no known role');
}

/** Plain values of a training checkpoint (torch `values`), grouped by their top-level key. */
export function classifyValues(values: CheckpointInfo['values']): NonLoraEntry[] {
  if (!values) return [];
  const groups = new Map<string, { category: NonLoraCategory; reason: string; count: number }>();
  for (const key of Object.keys(values)) {
    const top = key.split('.')[0] ?? key;
    const [category, reason] = valueCategory(key, top);
    const g = groups.get(top) ?? { category, reason, count: 0 };
    g.count++;
    groups.set(top, g);
  }
  return [...groups].map(([top, g]) => ({
    name: g.count === 1 && values[top] !== undefined ? top : `${top}.*`,
    reason: g.reason,
    category: g.category,
    source: 'value' as const,
    count: g.count,
  }));
}

function valueCategory(key: string, top: string): [NonLoraCategory, string] {
  if (OPTIMIZER_WORDS.test(top)) return ['optimizer', 'optimizer hyper-parameters (param_groups)'];
  if (SCHEDULER_WORDS.test(top)) return ['scheduler', 'learning-rate scheduler state'];
  if (key === top && STEP_WORDS.test(top)) return ['step-counter', `training ${top} counter`];
  if (top === 'callbacks' || top === 'loops')
    return ['other', 'training-loop state (callbacks, loops)'];
  return ['training-metadata', 'training metadata saved with the checkpoint'];
}

/** Metadata keys grouped by what wrote them. Reader-made keys (torch.*, general.*) are left out. */
export function classifyMetadata(metadata: Readonly<Record<string, string>>): NonLoraEntry[] {
  const groups: [RegExp, string, NonLoraCategory, string][] = [
    [
      /^ss_/,
      'ss_*',
      'training-metadata',
      'kohya / sd-scripts training metadata (ss_network_dim/alpha read for the scale)',
    ],
    [/^sshs_/, 'sshs_*', 'training-metadata', 'kohya model hashes'],
    [/^modelspec\./, 'modelspec.*', 'training-metadata', 'SAI model-spec description'],
    [
      /^lora_adapter_metadata$/,
      'lora_adapter_metadata',
      'adapter-config',
      'diffusers-saved PEFT config (read for rank and alpha)',
    ],
    [
      /^adapter\./,
      'adapter.*',
      'adapter-config',
      'GGUF adapter keys (adapter.lora.alpha read for the scale)',
    ],
    [
      /^training_info$|^software$/,
      'training_info / software',
      'training-metadata',
      'trainer description',
    ],
  ];
  const out: NonLoraEntry[] = [];
  const keys = Object.keys(metadata);
  for (const [re, name, category, reason] of groups) {
    const count = keys.filter((k) => re.test(k)).length;
    if (count) out.push({ name, reason, category, source: 'metadata', count });
  }
  return out;
}
