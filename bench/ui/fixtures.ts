// Sparse safetensors fixtures for the UI bench: a real header and a hole where the data would be,
// so a "1M-tensor checkpoint" is written in about a second and takes almost no disk.
import { mkdirSync, openSync, closeSync, ftruncateSync, writeSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Largest header the readers accept (LoRA Lens: HeaderTooLarge over 100,000,000 bytes). */
export const MAX_HEADER = 100_000_000;

export interface TensorSpec {
  name: string;
  dtype: string;
  shape: number[];
}

const BYTES: Record<string, number> = { F32: 4, BF16: 2, F16: 2, U8: 1, I8: 1 };

/** The group in the big fixtures that has 10,000 direct children (one expert each). */
export const EXPERTS_GROUP = 'model.layers.0.block_sparse_moe.experts';
export const EXPERTS = 10_000;

const ATTN = ['q_proj', 'k_proj', 'v_proj', 'o_proj'] as const;
const MLP = ['gate_proj', 'up_proj', 'down_proj'] as const;

/** Llama-like names, in file order: embeddings, N layers of 9 tensors, final norm, lm_head. */
function llama(count: number, hidden: number, inter: number, withExperts: boolean): TensorSpec[] {
  const out: TensorSpec[] = [];
  const vocab = 32_000;
  out.push({ name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [vocab, hidden] });
  if (withExperts) {
    // One MoE block whose `experts` group has 10,000 children: experts.N.w1.weight.
    for (let e = 0; e < EXPERTS; e++)
      out.push({ name: `${EXPERTS_GROUP}.${e}.w1.weight`, dtype: 'BF16', shape: [8, hidden] });
  }
  const tail = 2;
  for (let l = 0; out.length < count - tail; l++) {
    const p = `model.layers.${l}`;
    const layer: TensorSpec[] = [
      ...ATTN.map((k) => ({
        name: `${p}.self_attn.${k}.weight`,
        dtype: 'BF16',
        shape: [hidden, hidden],
      })),
      ...MLP.map((k) => ({
        name: `${p}.mlp.${k}.weight`,
        dtype: 'BF16',
        shape: k === 'down_proj' ? [hidden, inter] : [inter, hidden],
      })),
      { name: `${p}.input_layernorm.weight`, dtype: 'BF16', shape: [hidden] },
      { name: `${p}.post_attention_layernorm.weight`, dtype: 'BF16', shape: [hidden] },
    ];
    for (const t of layer) if (out.length < count - tail) out.push(t);
  }
  out.push({ name: 'model.norm.weight', dtype: 'BF16', shape: [hidden] });
  out.push({ name: 'lm_head.weight', dtype: 'BF16', shape: [vocab, hidden] });
  return out;
}

/**
 * A million tensors cannot keep Llama's full names under the 100 MB header limit (each entry is
 * ~60 bytes of dtype/shape/offsets alone), so this one drops `model.`/`self_attn.`/`mlp.` and
 * stores one U8 per tensor; the layer structure and the 10,000-expert group stay.
 */
function compact(count: number): TensorSpec[] {
  const out: TensorSpec[] = [];
  for (let e = 0; e < EXPERTS; e++)
    out.push({ name: `layers.0.experts.${e}.w1.weight`, dtype: 'U8', shape: [1] });
  const kinds = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate', 'up', 'down', 'ln1', 'ln2'];
  for (let i = 0; out.length < count; i++) {
    const l = Math.floor(i / kinds.length);
    out.push({ name: `layers.${l}.${kinds[i % kinds.length]}.weight`, dtype: 'U8', shape: [1] });
  }
  return out;
}

/** A small PEFT LoRA adapter: rank 16 on q_proj and v_proj, 30 tensors. */
function lora(count: number): TensorSpec[] {
  const out: TensorSpec[] = [];
  for (let l = 0; out.length < count; l++) {
    for (const m of ['q_proj', 'v_proj']) {
      const p = `base_model.model.model.layers.${l}.self_attn.${m}`;
      if (out.length < count)
        out.push({ name: `${p}.lora_A.weight`, dtype: 'F32', shape: [16, 4096] });
      if (out.length < count)
        out.push({ name: `${p}.lora_B.weight`, dtype: 'F32', shape: [4096, 16] });
    }
  }
  return out;
}

export const ADAPTER_CONFIG = {
  base_model_name_or_path: 'meta-llama/Llama-2-7b-hf',
  peft_type: 'LORA',
  task_type: 'CAUSAL_LM',
  r: 16,
  lora_alpha: 32,
  lora_dropout: 0.05,
  target_modules: ['q_proj', 'v_proj'],
  bias: 'none',
  fan_in_fan_out: false,
  inference_mode: true,
};

/** Tensor list for a fixture of `count` tensors. */
export function fixtureTensors(count: number): TensorSpec[] {
  if (count <= 64) return lora(count);
  if (count >= 500_000) return compact(count);
  // Smaller hidden size at 100k keeps the (sparse) file under a few TB of holes.
  return count >= 50_000 ? llama(count, 1024, 2816, true) : llama(count, 4096, 11008, false);
}

/** The header text (padded to 8 bytes) and the data length it describes. */
export function headerFor(tensors: readonly TensorSpec[]): { header: Buffer; dataBytes: number } {
  const parts: string[] = ['{"__metadata__":{"format":"pt"}'];
  let offset = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1) * (BYTES[t.dtype] ?? 1);
    parts.push(
      `,${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + n}]}`,
    );
    offset += n;
  }
  parts.push('}');
  let text = parts.join('');
  text += ' '.repeat((8 - (text.length % 8)) % 8);
  return { header: Buffer.from(text), dataBytes: offset };
}

export interface Fixture {
  tensors: number;
  file: string;
  headerBytes: number;
  fileBytes: number;
  ms: number;
}

/** Writes `<dir>/<name>` as a sparse safetensors file (header, then a hole for the data). */
export function writeSparseSafetensors(
  dir: string,
  name: string,
  tensors: readonly TensorSpec[],
): Fixture {
  const start = performance.now();
  const { header, dataBytes } = headerFor(tensors);
  if (header.length > MAX_HEADER)
    throw new Error(`${name}: header is ${header.length} bytes, over ${MAX_HEADER}`);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(header.length));
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, prefix, 0, 8, 0);
    writeSync(fd, header, 0, header.length, 8);
    ftruncateSync(fd, 8 + header.length + dataBytes);
  } finally {
    closeSync(fd);
  }
  return {
    tensors: tensors.length,
    file,
    headerBytes: header.length,
    fileBytes: 8 + header.length + dataBytes,
    ms: performance.now() - start,
  };
}

/** File name for the fixture with `count` tensors (`copy` > 0: the ten-editors copies). */
export function fixtureName(count: number, copy = 0): string {
  const base = count <= 64 ? `lora-${count}` : `llama-${count}`;
  return `${base}${copy ? `-copy${copy}` : ''}.safetensors`;
}

/** Workspace-relative path of the fixture: the LoRA sits in its own folder with its config. */
export function fixturePath(count: number, copy = 0): string {
  return count <= 64 ? `adapter/${fixtureName(count, copy)}` : fixtureName(count, copy);
}

/** Writes the fixture for `count` tensors under `workspace` (adapter_config.json beside the LoRA). */
export function writeFixture(workspace: string, count: number, copy = 0): Fixture {
  const rel = fixturePath(count, copy);
  const dir = path.join(workspace, path.dirname(rel));
  const fx = writeSparseSafetensors(dir, path.basename(rel), fixtureTensors(count));
  if (count <= 64)
    writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify(ADAPTER_CONFIG, null, 2));
  return fx;
}
