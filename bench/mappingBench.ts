/**
 * Mapping accuracy and speed. The corpus is built from real base-model key lists
 * (test/fixtures/mapping) and the naming conventions adapters use for them (PEFT, kohya flattening,
 * Meta / llama.cpp names, random container renamings); the expected target of every module is
 * known by construction. Reports top-1 accuracy, wrong `high` mappings and time per 1,000 modules,
 * then times 1,000 modules onto 10,000 parameters (goal < 250 ms).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  summarizeDtypes,
  type CheckpointInfo,
  type TensorInfo,
} from '../src/core/formats/checkpoint.js';
import { analyzeLoraSync, type LoraAnalysis } from '../src/core/lora/index.js';
import { mapAdapter } from '../src/core/mapping/index.js';

// Run from the repository root (npm run bench:mapping), bundled or not.
const FIXTURES = join('test', 'fixtures', 'mapping');

function info(shapes: ReadonlyMap<string, readonly number[]>): CheckpointInfo {
  let offset = 0;
  const tensors: TensorInfo[] = [...shapes].map(([name, shape]) => {
    const parameterCount = shape.reduce((a, b) => a * b, 1);
    const t = { name, dtype: 'F16', shape, offset, byteLength: parameterCount * 2, parameterCount };
    offset += t.byteLength;
    return t;
  });
  return {
    format: 'safetensors',
    name: 'bench',
    fileSize: offset,
    headerByteLength: 0,
    tensors,
    metadata: Object.create(null) as Record<string, string>,
    parameterCount: tensors.reduce((a, t) => a + t.parameterCount, 0),
    dataBytes: offset,
    dtypes: summarizeDtypes(tensors),
  };
}

function keys(file: string): Map<string, number[]> {
  const j = JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')) as {
    state_dict: Record<string, { shape: number[] }>;
  };
  return new Map(Object.entries(j.state_dict).map(([k, v]) => [k, v.shape]));
}

interface Case {
  readonly name: string;
  readonly base: CheckpointInfo;
  readonly adapter: { analysis: LoraAnalysis; info: CheckpointInfo };
  /** Module name → expected base parameter. */
  readonly expected: Map<string, string>;
}

type Style = 'kohya' | 'peft';
/** An adapter over `targets` (base param → adapter module path), in the style's tensor names. */
function makeCase(
  name: string,
  base: Map<string, number[]>,
  pick: RegExp,
  rename: (path: string) => string,
  style: Style,
): Case {
  const shapes = new Map<string, number[]>();
  const expected = new Map<string, string>();
  for (const [k, shape] of base) {
    if (!k.endsWith('.weight') || !pick.test(k) || shape.length < 2) continue;
    const [o = 0, i = 0, ...kernel] = shape;
    const mod = rename(k.slice(0, -'.weight'.length));
    if (style === 'kohya') {
      shapes.set(`${mod}.lora_down.weight`, [4, i, ...kernel]);
      shapes.set(`${mod}.lora_up.weight`, [o, 4, ...kernel.map(() => 1)]);
      expected.set(mod, k);
    } else {
      shapes.set(`base_model.model.${mod}.lora_A.weight`, [4, i]);
      shapes.set(`base_model.model.${mod}.lora_B.weight`, [o, 4]);
      expected.set(`base_model.model.${mod}`, k);
    }
  }
  const adapterInfo = info(shapes);
  return {
    name,
    base: info(base),
    adapter: { analysis: analyzeLoraSync(adapterInfo), info: adapterInfo },
    expected,
  };
}

const flat = (prefix: string) => (p: string) => prefix + p.replace(/\./g, '_');
const LLM_PICK = /(self_attn\.[qkvo]_proj|mlp\.(gate|up|down)_proj)\.weight$/;
const META: Record<string, string> = {
  'self_attn.q_proj': 'attention.wq',
  'self_attn.k_proj': 'attention.wk',
  'self_attn.v_proj': 'attention.wv',
  'self_attn.o_proj': 'attention.wo',
  'mlp.gate_proj': 'feed_forward.w1',
  'mlp.down_proj': 'feed_forward.w2',
  'mlp.up_proj': 'feed_forward.w3',
};
const GGUF: Record<string, string> = {
  'self_attn.q_proj': 'attn_q',
  'self_attn.k_proj': 'attn_k',
  'self_attn.v_proj': 'attn_v',
  'self_attn.o_proj': 'attn_output',
  'mlp.gate_proj': 'ffn_gate',
  'mlp.down_proj': 'ffn_down',
  'mlp.up_proj': 'ffn_up',
};

/** A deterministic pseudo-random container renaming (attn ↔ self_attn ↔ attention, mlp ↔ ffn, wrappers). */
function scramble(seed: number): (p: string) => string {
  let s = seed;
  const rnd = (n: number): number => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % n;
  };
  const ATTN = ['self_attn', 'attn', 'attention', 'self_attention'];
  const MLP = ['mlp', 'ffn', 'feed_forward'];
  const LEAF: Record<string, string[]> = {
    q_proj: ['q_proj', 'to_q', 'query', 'wq'],
    k_proj: ['k_proj', 'to_k', 'key', 'wk'],
    v_proj: ['v_proj', 'to_v', 'value', 'wv'],
    o_proj: ['o_proj', 'out_proj', 'wo'],
  };
  return (p) =>
    p
      .replace(/^model\./, ['model.', 'transformer.', ''][rnd(3)] ?? '')
      .replace('self_attn', ATTN[rnd(ATTN.length)] ?? 'self_attn')
      .replace('mlp', MLP[rnd(MLP.length)] ?? 'mlp')
      .replace(/(q|k|v|o)_proj$/, (m) => LEAF[m]?.[rnd(LEAF[m]?.length ?? 1)] ?? m);
}

function corpus(): Case[] {
  const sd15 = keys('sd15-unet_diffusers-naming.state_dict.json');
  const sdxl = keys('sdxl-unet_sai-ldm-naming.state_dict.json');
  const clip = keys('sd15-text-encoder_CLIPTextModel.state_dict.json');
  const llama = keys('llama3.1-8b_LlamaForCausalLM.state_dict.json');
  const unet =
    /(attn[12]\.to_(q|k|v|out\.0)|proj_in|proj_out|ff\.net\.(0\.proj|2)|conv[12]|time_emb_proj|in_layers\.2|out_layers\.3|emb_layers\.1)\.weight$/;
  const ggufBase = new Map(
    [...llama].map(([k, v]) => {
      const m = /^model\.layers\.(\d+)\.(.+)\.weight$/.exec(k);
      const g = m ? GGUF[m[2] ?? ''] : undefined;
      return [m && g ? `blk.${m[1]}.${g}.weight` : k, v];
    }),
  );
  const ggufCase = makeCase('Llama-3.1-8B PEFT → GGUF names', llama, LLM_PICK, (p) => p, 'peft');
  const ggufExpected = new Map(
    [...ggufCase.expected].map(([mod, k]) => {
      const m = /^model\.layers\.(\d+)\.(.+)\.weight$/.exec(k);
      return [mod, `blk.${m?.[1]}.${GGUF[m?.[2] ?? ''] ?? ''}.weight`];
    }),
  );
  return [
    makeCase('SD1.5 UNet kohya (diffusers flattened)', sd15, unet, flat('lora_unet_'), 'kohya'),
    makeCase('SDXL UNet kohya (LDM flattened)', sdxl, unet, flat('lora_unet_'), 'kohya'),
    makeCase(
      'SD1.5 CLIP kohya lora_te_text_model_',
      clip,
      /(_proj|fc[12])\.weight$/,
      flat('lora_te_text_model_'),
      'kohya',
    ),
    makeCase('Llama-3.1-8B PEFT', llama, LLM_PICK, (p) => p, 'peft'),
    makeCase('Llama-3.1-8B kohya flattened', llama, LLM_PICK, flat('lora_unet_'), 'kohya'),
    makeCase(
      'Llama-3.1-8B Meta names',
      llama,
      LLM_PICK,
      (p) => p.replace(/^model\./, '').replace(/(self_attn|mlp)\.\w+_proj$/, (m) => META[m] ?? m),
      'peft',
    ),
    { ...ggufCase, name: ggufCase.name, base: info(ggufBase), expected: ggufExpected },
    makeCase('Llama-3.1-8B random renamings', llama, LLM_PICK, scramble(7), 'peft'),
  ];
}

function scale(
  modules: number,
  params: number,
): { base: CheckpointInfo; adapter: Case['adapter'] } {
  const kinds: [string, number, number][] = [
    ['self_attn.q_proj', 64, 64],
    ['self_attn.k_proj', 64, 32],
    ['self_attn.v_proj', 64, 32],
    ['self_attn.o_proj', 64, 64],
    ['mlp.gate_proj', 64, 128],
    ['mlp.up_proj', 64, 128],
    ['mlp.down_proj', 128, 64],
  ];
  const base = new Map<string, number[]>();
  for (let i = 0; base.size < params; i++) {
    const [k, inF, out] = kinds[i % kinds.length] ?? ['x', 1, 1];
    base.set(`model.layers.${Math.floor(i / kinds.length)}.${k}.weight`, [out, inF]);
  }
  const shapes = new Map<string, number[]>();
  for (let i = 0; i < modules; i++) {
    const [k, inF, out] = kinds[i % kinds.length] ?? ['x', 1, 1];
    const mod = `base_model.model.model.layers.${Math.floor(i / kinds.length)}.${k}`;
    shapes.set(`${mod}.lora_A.weight`, [4, inF]);
    shapes.set(`${mod}.lora_B.weight`, [out, 4]);
  }
  const adapterInfo = info(shapes);
  return {
    base: info(base),
    adapter: { analysis: analyzeLoraSync(adapterInfo), info: adapterInfo },
  };
}

export async function benchMapping(): Promise<string[]> {
  const lines: string[] = [];
  let total = 0;
  let correct = 0;
  let wrongHigh = 0;
  let ms = 0;
  for (const c of corpus()) {
    const t0 = performance.now();
    const r = mapAdapter(c.adapter, c.base);
    const dt = performance.now() - t0;
    ms += dt;
    const got = new Map(r.mappings.map((m) => [m.module, m]));
    let ok = 0;
    let bad = 0;
    for (const [mod, target] of c.expected) {
      const m = got.get(mod);
      if (m?.target === target) ok++;
      else if (m?.level === 'high') bad++;
    }
    total += c.expected.size;
    correct += ok;
    wrongHigh += bad;
    lines.push(
      `${c.name}: ${ok}/${c.expected.size} top-1, ${bad} wrong high, ${((dt / c.expected.size) * 1000).toFixed(1)} ms per 1,000 modules`,
    );
  }
  lines.push(
    `corpus: top-1 accuracy ${((100 * correct) / total).toFixed(2)}% (${correct}/${total}), wrong high mappings ${wrongHigh}, ${((ms / total) * 1000).toFixed(1)} ms per 1,000 modules`,
  );
  const s = scale(1000, 10_000);
  mapAdapter(s.adapter, s.base); // warm-up
  const runs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    mapAdapter(s.adapter, s.base);
    runs.push(performance.now() - t0);
  }
  runs.sort((a, b) => a - b);
  const median = runs[2] ?? 0;
  lines.push(
    `1,000 modules onto 10,000 parameters: ${median.toFixed(1)} ms median of 5 (goal < 250 ms)`,
  );
  return lines;
}

if (require.main === module) {
  void benchMapping().then((lines) => {
    for (const l of lines) console.log(l);
  });
}
