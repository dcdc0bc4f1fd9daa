/**
 * The tensor filter at 100,000 and 1,000,000 tensors (issue 15 goal 3: keystroke → result < 50 ms at
 * 100k, < 200 ms at 1M, without the debounce), in the extension host's TensorTree.
 *
 *   npx tsx --expose-gc bench/filterBench.ts [100k|1m] [--runs N] [--module path/to/tensorTree.ts]
 *
 * Names are Llama-like, dense and MoE layers alternating (`model.layers.N.self_attn.q_proj.weight`,
 * `model.layers.N.block_sparse_moe.experts.E.w1.weight`, …). A keystroke is setQuery(text) plus the
 * first page of rows (what the webview asks for next); each typing sequence starts from no filter on a
 * fresh tree, so nothing carries over from one run to the next. Baseline: a plain uFuzzy filter with the
 * tree's options over every name (no tree, no totals, no rows), median of the same runs.
 */
import uFuzzy from '@leeoniya/ufuzzy';
import type { TensorInfo } from '../src/core/formats/checkpoint.js';

const PAGE = 60;

const DENSE = [
  'self_attn.q_proj.weight',
  'self_attn.k_proj.weight',
  'self_attn.v_proj.weight',
  'self_attn.o_proj.weight',
  'mlp.gate_proj.weight',
  'mlp.up_proj.weight',
  'mlp.down_proj.weight',
  'input_layernorm.weight',
  'post_attention_layernorm.weight',
];
const MOE = [
  'self_attn.q_proj.weight',
  'self_attn.k_proj.weight',
  'self_attn.v_proj.weight',
  'self_attn.o_proj.weight',
  'block_sparse_moe.gate.weight',
  ...Array.from({ length: 8 }, (_, e) =>
    ['w1', 'w2', 'w3'].map((w) => `block_sparse_moe.experts.${e}.${w}.weight`),
  ).flat(),
  'input_layernorm.weight',
  'post_attention_layernorm.weight',
];

export function llamaNames(count: number): string[] {
  const out = ['model.embed_tokens.weight', 'model.norm.weight', 'lm_head.weight'];
  for (let layer = 0; out.length < count; layer++)
    for (const kind of layer % 2 ? MOE : DENSE) {
      if (out.length >= count) break;
      out.push(`model.layers.${layer}.${kind}`);
    }
  return out;
}

export function tensorsOf(names: readonly string[]): TensorInfo[] {
  let offset = 0;
  return names.map((name, i) => {
    const n = 64 + (i % 7);
    const t: TensorInfo = {
      name,
      dtype: 'F16',
      shape: [n, 64],
      offset,
      byteLength: n * 128,
      parameterCount: n * 64,
    };
    offset += t.byteLength;
    return t;
  });
}

/** Typing sequences: each entry is typed one character at a time from no filter. */
const TYPED = ['layers 5', 'q_proj', 'layers.12.mlp', 'expert 7 w1', 'zzzz'];
/** Pasted at once from no filter. */
const PASTED = ['q_proj', 'layers.12.mlp', 'expert 7 w1', 'zzzz', 'post_attention'];

interface Tree {
  setQuery(q: string): { rowCount: number; shown: { tensors: number } };
  rows(start: number, count: number): unknown[];
}
type TreeCtor = new (tensors: readonly TensorInfo[]) => Tree;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] as number;
};

function keystroke(tree: Tree, q: string): number {
  const t0 = performance.now();
  tree.setQuery(q);
  tree.rows(0, PAGE);
  return performance.now() - t0;
}

export async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const modulePath = flag('--module') ?? '../src/core/view/tensorTree.js';
  const sizes = args.filter((a) => a === '100k' || a === '1m');
  const { TensorTree } = (await import(modulePath)) as { TensorTree: TreeCtor };
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
  for (const size of sizes.length ? sizes : ['100k', '1m']) {
    const count = size === '1m' ? 1_000_000 : 100_000;
    const runs = Number(flag('--runs') ?? (size === '1m' ? 3 : 5));
    const names = llamaNames(count);
    const tensors = tensorsOf(names);
    const times = new Map<string, number[]>();
    const add = (key: string, ms: number) => {
      const list = times.get(key) ?? [];
      list.push(ms);
      times.set(key, list);
    };
    const base = new Map<string, number[]>();
    const fuzzy = new uFuzzy({ intraMode: 1, intraIns: 1 });
    const hits = new Map<string, number>();
    for (let run = 0; run < runs; run++) {
      for (const word of TYPED) {
        gc();
        const tree = new TensorTree(tensors);
        for (let k = 1; k <= word.length; k++) {
          const q = word.slice(0, k);
          if (q.trim() === word.slice(0, k - 1).trim()) continue; // a trailing space: no new query
          add(`typed ${word} | ${q}`, keystroke(tree, q));
          hits.set(q, tree.setQuery(q).shown.tensors);
        }
        // Backspace back to the first letter, then clear.
        for (let k = word.length - 1; k >= 1; k--)
          if (word[k] !== ' ')
            add(`back ${word} | ${word.slice(0, k)}`, keystroke(tree, word.slice(0, k)));
        add(`clear after ${word}`, keystroke(tree, ''));
      }
      gc();
      const tree = new TensorTree(tensors);
      for (const q of PASTED) {
        add(`pasted | ${q}`, keystroke(tree, q));
        hits.set(q, tree.setQuery(q).shown.tensors);
        add(`pasted | clear after ${q}`, keystroke(tree, ''));
      }
      for (const word of [...TYPED, ...PASTED])
        for (let k = 1; k <= word.length; k++) {
          const q = word.slice(0, k).trim();
          if (!q) continue;
          const t0 = performance.now();
          fuzzy.filter(names, q);
          const list = base.get(q) ?? [];
          list.push(performance.now() - t0);
          base.set(q, list);
        }
    }
    console.log(
      `${size}: ${count.toLocaleString('en-US')} tensors, median of ${runs} runs (ms: keystroke = setQuery + first ${PAGE} rows; plain = uFuzzy.filter over all names)`,
    );
    let worst = 0;
    for (const [key, list] of times) {
      const ms = median(list);
      worst = Math.max(worst, ms);
      const q = (key.split(' | ')[1] ?? '').trim();
      const plain = base.get(q);
      console.log(
        `  ${key.padEnd(40)} ${ms.toFixed(1).padStart(8)}` +
          (plain
            ? `   plain ${median(plain).toFixed(1).padStart(7)}   hits ${String(hits.get(q) ?? '').padStart(7)}`
            : ''),
      );
    }
    const goal = size === '1m' ? 200 : 50;
    console.log(
      `  worst keystroke ${worst.toFixed(1)} ms (goal < ${goal}: ${worst < goal ? 'met' : 'NOT met'})`,
    );
  }
}

if (process.argv[1]?.endsWith('filterBench.ts'))
  main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
