// A user opens checkpoints in a real VS Code (code-server) with the packaged VSIX installed.
import * as assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe } from 'node:test';
import {
  byTestId,
  expectState,
  dataValue,
  filterStats,
  setFilter,
  showTab,
  text,
  treeRow,
  treeRows,
  waitForStats,
} from './editor';
import {
  sample,
  scenario,
  startSession,
  waitFor,
  TIMEOUT,
  type Session,
  type WorkspaceFile,
} from './harness';
import { buildSafetensors, readSafetensorsFacts } from './safetensors';

const MODEL = sample('tiny-llama', 'model.safetensors');
const ADAPTER = sample('tiny-llama-lora', 'adapter_model.safetensors');
const model = readSafetensorsFacts(MODEL);
const adapter = readSafetensorsFacts(ADAPTER);

// samples/broken/ (npm run samples): one broken rule per file, and the rule the editor must name.
const BROKEN_DIR = sample('broken');
const EXPECTED_CODES: Record<string, string> = {
  'truncated.safetensors': 'MetadataIncompleteBuffer',
  'duplicate-key.safetensors': 'DuplicateKey',
  'header-too-large.safetensors': 'HeaderTooLarge',
  'metadata-not-string.safetensors': 'InvalidHeaderDeserialization',
  'unknown-dtype.safetensors': 'UnknownDtype',
};
// Past the host's EAGER_TREE_TENSORS (50,000): the summary is painted before the tree is built.
const LARGE_LAYERS = 6000;
const LARGE_KINDS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
const LARGE_NORMS = ['input_layernorm', 'post_attention_layernorm', 'pre_feedforward_layernorm'];
function largeModel(): Record<string, [string, number[]]> {
  const tensors: Record<string, [string, number[]]> = {};
  for (let l = 0; l < LARGE_LAYERS; l++) {
    for (const k of LARGE_KINDS) tensors[`model.layers.${l}.${k}.weight`] = ['F16', [2, 2]];
    for (const k of LARGE_NORMS) tensors[`model.layers.${l}.${k}.weight`] = ['F16', [2]];
  }
  return tensors;
}
const LARGE_TENSORS = LARGE_LAYERS * (LARGE_KINDS.length + LARGE_NORMS.length);

const brokenFiles: Record<string, WorkspaceFile> = {};
if (existsSync(BROKEN_DIR)) {
  for (const f of readdirSync(BROKEN_DIR).filter((f) => f.endsWith('.safetensors'))) {
    brokenFiles[`broken/${f}`] = { copyFrom: path.join(BROKEN_DIR, f) };
  }
}
// Without the samples, make the truncated case here: a valid header, data one byte short.
if (!brokenFiles['broken/truncated.safetensors']) {
  brokenFiles['broken/truncated.safetensors'] = buildSafetensors(
    { 'model.embed_tokens.weight': ['F32', [8, 4]], 'lm_head.weight': ['F32', [8, 4]] },
    { truncateBy: 1, metadata: { format: 'pt' } },
  );
}

describe('LoRA Lens in VS Code (code-server)', () => {
  let session: Session | undefined;
  const s = () => session;

  before(
    async () => {
      session = await startSession({
        name: 'workbench',
        files: {
          'tiny-llama/model.safetensors': { copyFrom: MODEL },
          'tiny-llama-lora/adapter_model.safetensors': { copyFrom: ADAPTER },
          'tiny-llama-lora/adapter_config.json': {
            copyFrom: sample('tiny-llama-lora', 'adapter_config.json'),
          },
          ...brokenFiles,
          'large/large-model.safetensors': buildSafetensors(largeModel()),
          'README.md': '# scratch workspace\n',
        },
      });
    },
    { timeout: 300_000 },
  );
  after(async () => {
    await session?.close();
  });

  scenario('a double-click in the explorer opens the LoRA Lens editor, not text', s, async (s) => {
    await s.openFromExplorer('tiny-llama/model.safetensors', 'double');
    const app = await s.editorFrame('model.safetensors');
    await expectState(s, app, 'ready');
    assert.equal(await s.activeTabLabel(), 'model.safetensors');
    assert.equal(await s.activeEditorIsText(), false, 'the text editor opened instead');

    assert.equal(await dataValue(app, 'summary-tensor-count'), model.tensorCount);
    assert.equal(await dataValue(app, 'summary-param-count'), model.paramCount);
    assert.equal(await dataValue(app, 'summary-file-size'), model.fileSize);
    assert.match(await text(app, 'summary-dtypes'), /F32/i);
    assert.notEqual(await text(app, 'format-badge'), '');
    // The codicon sheet comes in as media="print" (so it does not hold back the script), and the
    // script applies it: icons are drawn in the codicon font.
    const icons = await waitFor(
      'the codicon stylesheet to apply',
      async () => {
        const r = await app.evaluate(() => {
          const link = document.getElementById('vscode-codicon-stylesheet') as HTMLLinkElement;
          const el = document.querySelector('.codicon');
          return { media: link.media, font: el ? getComputedStyle(el).fontFamily : '' };
        });
        return r.font.includes('codicon') ? r : undefined;
      },
      TIMEOUT.ui,
    );
    assert.equal(icons.media, 'all');
    await s.screenshot('model-overview');
  });

  scenario('the tensor tree expands and the filter narrows the rows', s, async (s) => {
    const app = await s.editorFrame('model.safetensors');
    await showTab(app, 'tensors');
    await byTestId(app, 'tree-row').first().waitFor({ timeout: TIMEOUT.ui });

    const all = await filterStats(app);
    assert.equal(all.tensors, model.tensorCount, 'unfiltered totals cover every tensor');
    assert.equal(all.params, model.paramCount);

    // Toggle a group row: a collapsed one expands and shows its children.
    const rows = await treeRows(app);
    const group =
      rows.find((r) => r.kind === 'group' && r.expanded === 'false') ??
      rows.find((r) => r.kind === 'group');
    assert.ok(group, `a group row is shown (rows: ${rows.map((r) => r.path).join(', ')})`);
    const before = group.expanded;
    await treeRow(app, group.path).click();
    await waitFor(
      `group ${group.path} to toggle`,
      async () =>
        (await treeRow(app, group.path).getAttribute('aria-expanded')) !== before || undefined,
      TIMEOUT.ui,
    );
    if (before === 'false') {
      const after = await treeRows(app);
      assert.ok(
        after.some((r) => r.path.startsWith(`${group.path}.`)),
        `children of ${group.path} show after expanding`,
      );
    }
    await s.screenshot('model-tensors');

    // The filter narrows to the matching tensors.
    const query = 'down_proj';
    const expected = model.tensors.filter((t) => t.name.includes(query));
    assert.ok(expected.length > 0 && expected.length < model.tensorCount);
    await setFilter(app, query);
    const narrowed = await waitForStats(
      app,
      'the filter to narrow',
      (st) => st.tensors < all.tensors,
    );
    assert.equal(narrowed.tensors, expected.length, `tensors matching "${query}"`);
    assert.equal(
      narrowed.params,
      expected.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0),
    );
    const shown = (await treeRows(app)).filter((r) => r.kind === 'tensor');
    for (const r of shown) assert.ok(r.path.includes(query), `row ${r.path} matches "${query}"`);
    await s.screenshot('model-filtered');

    await setFilter(app, '');
    await waitForStats(app, 'the filter to clear', (st) => st.tensors === all.tensors);
  });

  scenario(
    'a 60,000-tensor file: the summary first, its tree when shown, filter and all',
    s,
    async (s) => {
      await s.openFromExplorer('large/large-model.safetensors');
      const app = await s.editorFrame('large-model.safetensors');
      await expectState(s, app, 'ready');
      assert.equal(await dataValue(app, 'summary-tensor-count'), LARGE_TENSORS);
      // Its tree is built when the Tensors tab is first shown, not before.
      await new Promise((r) => setTimeout(r, 500));
      assert.equal((await filterStats(app)).tensors, 0, 'no tree asked for behind the Overview');
      await showTab(app, 'tensors');
      await byTestId(app, 'tree-row').first().waitFor({ timeout: TIMEOUT.ui });
      const all = await waitForStats(app, 'the tree to be built', (st) => st.tensors > 0);
      assert.equal(all.tensors, LARGE_TENSORS, 'every tensor is in the tree');
      // Open the 6,000 layers and scroll through them: the rows drawn are always one run of
      // consecutive rows, in order, with their own paths (rows kept between draws stay right).
      await treeRow(app, 'model.layers').click();
      await waitFor(
        'model.layers to open',
        async () => (await treeRow(app, 'model.layers.5').count()) > 0 || undefined,
        TIMEOUT.ui,
      );
      for (const top of [0, 22_000, 60_000, 61_000, 30_000, 29_500, 0]) {
        const drawn = await waitFor(
          `rows at scrollTop ${top}`,
          async () => {
            const rows = await app.evaluate((y) => {
              const tree = document.querySelector<HTMLElement>('[data-testid=tree]');
              if (!tree) return undefined;
              if (tree.scrollTop !== y) tree.scrollTop = y;
              const els = Array.from(tree.querySelectorAll<HTMLElement>('.rows > .row'));
              if (els.some((e) => e.classList.contains('placeholder'))) return undefined;
              return els.map((e) => [Number(e.dataset.index), e.dataset.path ?? '']);
            }, top);
            return rows?.length ? rows : undefined;
          },
          TIMEOUT.ui,
        );
        const first = drawn[0]?.[0] as number;
        drawn.forEach(([index, p], k) => {
          assert.equal(index, first + k, `row ${k} at scrollTop ${top}: consecutive, in order`);
          // Below model, model.layers: the layers in natural order, one row each.
          if ((index as number) >= 2 && (index as number) < 6002)
            assert.equal(p, `model.layers.${(index as number) - 2}`, `row ${index}'s path`);
        });
      }
      await setFilter(app, 'layers 5999 down');
      const one = await waitForStats(app, 'the filter to narrow', (st) => st.tensors < all.tensors);
      assert.equal(one.tensors, 1, 'exactly model.layers.5999.down_proj.weight');
      await setFilter(app, '');
      await waitForStats(app, 'the filter to clear', (st) => st.tensors === all.tensors);
    },
  );

  scenario('a single click opens the LoRA adapter in the LoRA Lens editor', s, async (s) => {
    await s.openFromExplorer('tiny-llama-lora/adapter_model.safetensors', 'single');
    const app = await s.editorFrame('adapter_model.safetensors');
    await expectState(s, app, 'ready');
    assert.equal(await dataValue(app, 'summary-tensor-count'), adapter.tensorCount);
    assert.equal(await dataValue(app, 'summary-param-count'), adapter.paramCount);
    // The adapter at a glance, with alpha from the adapter_config.json beside it.
    assert.equal(await text(app, 'lora-badge'), 'PEFT · r=8 · α=16 · scale 2');
    assert.equal(await text(app, 'adapter-modules'), '8');
    await s.screenshot('adapter-overview');
    // Norms are computed on request, by streaming each module's tensors once.
    await byTestId(app, 'compute-stats').click();
    await byTestId(app, 'stats').waitFor({ timeout: TIMEOUT.ui });
    assert.match(await text(app, 'stats'), /8 modules/);
    assert.equal(
      await byTestId(app, 'stats-warning').count(),
      0,
      'a trained adapter has no all-zero B',
    );
    await s.screenshot('adapter-stats', ['light', 'dark', 'hc-dark', 'hc-light']);
  });

  scenario('malformed files show the named validation error', s, async (s) => {
    const names = Object.keys(brokenFiles).sort();
    for (const rel of names) {
      const name = path.basename(rel);
      await s.openFromExplorer(rel);
      const app = await s.editorFrame(name);
      await expectState(s, app, 'error', name);
      const code = await text(app, 'error-code');
      const expected = EXPECTED_CODES[name];
      if (expected) assert.equal(code, expected, `${name}: rule name`);
      else assert.match(code, /^[A-Z][A-Za-z]+$/, `${name}: a rule name`);
      assert.notEqual(await text(app, 'error-message'), '', `${name}: a message`);
    }
    await s.openFromExplorer('broken/truncated.safetensors');
    await s.editorFrame('truncated.safetensors');
    await s.screenshot('error-truncated');
  });

  scenario('the command palette lists the commands under "LoRA Lens"', s, async (s) => {
    // Some commands show only with a LoRA Lens editor active: make one active first.
    await s.openFromExplorer('tiny-llama/model.safetensors');
    await s.editorFrame('model.safetensors');
    const labels = await s.paletteItems('LoRA Lens:');
    await s.page.keyboard.press('Escape');
    for (const title of [
      'LoRA Lens: Open with LoRA Lens',
      'LoRA Lens: Copy Summary as JSON',
      'LoRA Lens: Show Log',
    ]) {
      assert.ok(
        labels.some((l) => l === title || l.startsWith(`${title},`)),
        `"${title}" in the palette (got: ${labels.join(' | ')})`,
      );
    }
  });

  scenario('"Copy Summary as JSON" puts the summary on the clipboard', s, async (s) => {
    await s.openFromExplorer('tiny-llama/model.safetensors');
    await s.editorFrame('model.safetensors');
    await s.runCommand('LoRA Lens: Copy Summary as JSON');
    const json = await waitFor(
      'the summary JSON on the clipboard',
      async () => {
        const t = await s.clipboardText();
        return t.trim().startsWith('{') ? t : undefined;
      },
      TIMEOUT.ui,
    );
    const summary = JSON.parse(json) as Record<string, unknown>;
    assert.ok(
      JSON.stringify(summary).includes(String(model.paramCount)),
      `the JSON mentions ${model.paramCount} parameters`,
    );
    // The same object as `inspect --json`: what the model is, too.
    assert.equal((summary['architecture'] as { family?: string } | null)?.family, 'llama');
  });
});
