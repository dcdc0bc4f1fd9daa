/**
 * A short Python script that applies a mapping with PyTorch: it opens the adapter with
 * `safetensors.safe_open`, reads only the mapped A/B tensors, and merges `W += scale · (B @ A)` into a
 * state dict loaded from the base (transposed, sliced and reshaped as the mapping records).
 */
import type { LoraAnalysis } from '../../lora/types.js';
import type { MappingResult } from '../types.js';

export interface SnippetOptions {
  readonly adapterPath: string;
  readonly basePath: string;
}

/** A Python string literal (JSON escapes are valid Python escapes). */
function py(s: string): string {
  return JSON.stringify(s);
}

function pyNumber(n: number): string {
  return Number.isInteger(n) ? `${n}.0` : String(n);
}

/** The part of a tensor name after its module name (`.lora_A.weight`), or the whole name. */
function suffix(module: string, tensor: string): string {
  return tensor.startsWith(module) ? tensor.slice(module.length) : tensor;
}

/**
 * The script. Each mapped module appears exactly once, as a key of MAPPING; modules without a pair
 * (LoHa, LoKr, IA3, …) or without a known scale are listed in a comment instead.
 */
export function loaderSnippet(
  result: MappingResult,
  analysis: LoraAnalysis,
  options: SnippetOptions,
): string {
  const byName = new Map(analysis.modules.map((m) => [m.name, m]));
  const rows: string[] = [];
  const left: string[] = [];
  const orientations = new Set<string>();
  for (const e of result.mappings) {
    const m = byName.get(e.module);
    const down = m?.parts.down;
    const up = m?.parts.up;
    if (!m || !down || !up || !['linear', 'conv', 'embedding'].includes(m.kind)) {
      left.push(`#   ${e.target}: ${m ? `${m.label} (no A/B pair)` : 'module not in the adapter'}`);
      continue;
    }
    if (e.shapeCheck === 'mismatch') {
      left.push(`#   ${e.target}: shape mismatch`);
      continue;
    }
    orientations.add(m.orientation ?? 'standard');
    const slice = e.slice ? `(${e.slice.axis}, ${e.slice.start}, ${e.slice.end})` : 'None';
    const scale = m.scale ?? 1;
    rows.push(
      `    ${py(e.module)}: (${py(e.target)}, ${e.transposed ? 'True' : 'False'}, ${slice}, ${pyNumber(scale)}, ${py(suffix(m.name, down))}, ${py(suffix(m.name, up))}),${m.scale === null ? '  # scale unknown: 1.0 assumed' : ''}`,
    );
  }
  const loraTransposed = orientations.has('transposed');
  const lines = [
    '# Applies a LoRA adapter to a base model as mapped by LoRA Lens.',
    '# Needs: torch, safetensors (and huggingface_hub for hf: paths).',
    'import glob',
    'import os',
    '',
    'import torch',
    'from safetensors import safe_open',
    'from safetensors.torch import load_file',
    '',
    `ADAPTER = ${py(options.adapterPath)}`,
    `BASE = ${py(options.basePath)}`,
    `# MLX / ONNX adapters store A as [in, r] and B as [r, out].`,
    `LORA_TRANSPOSED = ${loraTransposed ? 'True' : 'False'}`,
    '',
    '# adapter module: (base parameter, stored transposed, slice (axis, start, end) or None, scale,',
    '#                  A suffix, B suffix)',
    'MAPPING = {',
    ...rows,
    '}',
    ...(left.length ? ['# Not applied:', ...left] : []),
    '',
    '',
    'def load_state_dict(path):',
    '    if path.startswith("hf:"):',
    '        from huggingface_hub import snapshot_download',
    '',
    '        repo, _, revision = path[3:].partition("@")',
    '        path = snapshot_download(repo, revision=revision or None)',
    '    if os.path.isdir(path):',
    '        files = sorted(glob.glob(os.path.join(path, "*.safetensors")))',
    '        return {k: v for f in files for k, v in load_file(f).items()}',
    '    if path.endswith(".safetensors"):',
    '        return load_file(path)',
    '    sd = torch.load(path, map_location="cpu", weights_only=True)',
    '    return sd.get("state_dict", sd)',
    '',
    '',
    'if os.path.isdir(ADAPTER):  # a PEFT folder',
    '    ADAPTER = os.path.join(ADAPTER, "adapter_model.safetensors")',
    'state_dict = load_state_dict(BASE)',
    'with safe_open(ADAPTER, framework="pt") as f:',
    '    for module, (param, transposed, part, scale, a_sfx, b_sfx) in MAPPING.items():',
    '        A = f.get_tensor(module + a_sfx).float()',
    '        B = f.get_tensor(module + b_sfx).float()',
    '        if LORA_TRANSPOSED:',
    '            A, B = A.T, B.T',
    '        delta = scale * (B.flatten(1) @ A.flatten(1))  # [out, in * k * k]',
    '        if transposed:',
    '            delta = delta.T',
    '        W = state_dict[param]',
    '        view = W if part is None else W.narrow(part[0], part[1], part[2] - part[1])',
    '        # reshape restores conv kernels [out, in, k, k] and 1x1 convs.',
    '        view.copy_((view.float() + delta.reshape(view.shape)).to(view.dtype))',
    '',
    'print(f"merged {len(MAPPING)} LoRA modules into {len(state_dict)} base tensors")',
    '# e.g. safetensors.torch.save_file(state_dict, "merged.safetensors")',
    '',
  ];
  return lines.join('\n');
}
