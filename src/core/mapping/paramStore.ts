/**
 * The base index's parameter tables. Names that take the template path (templateIndex.ts) cost a
 * few integers each until the matcher asks about them; the others are described at once, as
 * before. Every lookup answers in checkpoint order, as one eager table per key would.
 */
import type { TensorInfo } from '../formats/checkpoint.js';
import type { BaseParam } from './baseIndex.js';
import { canonicalName, modulePathOf, stripWrappers } from './normalize.js';
import { parseIndices, parseKey, Template, templateId, templateSegments } from './templateIndex.js';
import type { UnetLayout } from './unetLayout.js';

const NONE = 0;
const PARAM = 1;
const VECTOR = 2;

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** stripWrappers(modulePathOf(name)) for a `.weight` name, without modulePathOf's two regexps. */
function pathOf(name: string): string {
  const raw = name.slice(0, -'.weight'.length);
  return stripWrappers(
    raw.endsWith('.in_proj_weight') || raw.endsWith('.in_proj_bias') ? modulePathOf(name) : raw,
  );
}

const usualShape = (shape: readonly number[]): boolean =>
  shape.length === 2 || shape.slice(2).every((k) => k === 1);

export class ParamStore {
  /** BaseParams made so far (all of the slow path's, the template members asked about). */
  private readonly made: (BaseParam | undefined)[];
  private readonly kind: Uint8Array;
  private readonly templateOf: Int32Array;
  private readonly templates: Template[] = [];
  /** Template id → index into templates, or -1 where its first instance disagreed. */
  private readonly templateIds = new Map<string, number>();
  private readonly byKeyId = new Map<string, Template[]>();
  private readonly byCount = new Map<number, Template[]>();
  private readonly slowKey = new Map<string, number[]>();
  private readonly slowIndices = new Map<string, number[]>();
  private names: Map<string, number> | null = null;
  private everything: BaseParam[] | null = null;

  constructor(private readonly tensors: readonly TensorInfo[]) {
    this.made = new Array<BaseParam | undefined>(tensors.length);
    this.kind = new Uint8Array(tensors.length);
    this.templateOf = new Int32Array(tensors.length).fill(-1);
  }

  /** Files a matrix weight under its template; false when it must be described the slow way. */
  tryTemplate(t: TensorInfo, i: number, unet: UnetLayout): boolean {
    if ((t.role && t.role !== 'weight') || t.shape.length < 2 || !t.name.endsWith('.weight'))
      return false;
    const path = pathOf(t.name);
    // `#` stands for the numbers in template ids: a name that has one goes the slow way.
    if (path.includes('#')) return false;
    const id = templateId(path);
    let ti = this.templateIds.get(id);
    if (ti === undefined) {
      // Everything templateSegments checks but the numbers' spelling is the same for the whole id.
      const segs = templateSegments(path);
      const tm = segs ? new Template(segs) : null;
      ti = -1;
      if (
        tm !== null &&
        segs !== null &&
        JSON.stringify(tm.canon(path, segs)) === JSON.stringify(canonicalName(path, unet))
      ) {
        ti = this.templates.push(tm) - 1;
        push(this.byKeyId, tm.keyId, tm);
        push(this.byCount, tm.count, tm);
      }
      this.templateIds.set(id, ti);
    }
    const tm = this.templates[ti];
    if (!tm) return false;
    tm.members.push(i);
    this.templateOf[i] = ti;
    this.kind[i] = PARAM;
    return true;
  }

  addSlow(p: BaseParam, i: number): void {
    this.made[i] = p;
    this.kind[i] = PARAM;
    if (p.anonymous) return;
    push(this.slowKey, p.canon.key, i);
    push(this.slowIndices, p.canon.indices.join(','), i);
  }

  addVector(v: BaseParam, i: number): void {
    this.made[i] = v;
    this.kind[i] = VECTOR;
  }

  private param(i: number): BaseParam {
    const made = this.made[i];
    if (made) return made;
    const t = this.tensors[i];
    const tm = this.templates[this.templateOf[i] ?? -1];
    if (!t || !tm) throw new Error(`tensor ${i} is not a parameter of the index`);
    const path = pathOf(t.name);
    const p: BaseParam = {
      name: t.name,
      shape: t.shape,
      path,
      canon: tm.canon(path, path.split('.')),
      storedTransposed: tm.conv1d && t.shape.length === 2,
      via: null,
      viaScope: false,
      anonymous: false,
      usual: usualShape(t.shape) && tm.usualName,
    };
    this.made[i] = p;
    return p;
  }

  private collect(
    slow: readonly number[] | undefined,
    fast: readonly Template[],
    nums: readonly number[],
  ): BaseParam[] | undefined {
    const hits: number[] = slow ? [...slow] : [];
    let sources = slow ? 1 : 0;
    for (const tm of fast) {
      const h = tm.lookup(nums, (i) => this.tensors[i]?.name ?? '');
      if (h.length === 0) continue;
      for (const x of h) hits.push(x);
      sources++;
    }
    if (hits.length === 0) return undefined;
    if (sources > 1) hits.sort((a, b) => a - b);
    return hits.map((i) => this.param(i));
  }

  byKey(key: string): readonly BaseParam[] | undefined {
    const q = parseKey(key);
    return this.collect(
      this.slowKey.get(key),
      q ? (this.byKeyId.get(q.keyId) ?? []) : [],
      q?.nums ?? [],
    );
  }

  byIndices(sig: string): readonly BaseParam[] | undefined {
    const nums = parseIndices(sig);
    return this.collect(
      this.slowIndices.get(sig),
      nums ? (this.byCount.get(nums.length) ?? []) : [],
      nums ?? [],
    );
  }

  /** Params and vectors by name; a later tensor of the same name wins, as with Map.set. */
  byName(name: string): BaseParam | undefined {
    if (this.names === null) {
      const names = new Map<string, number>();
      this.tensors.forEach((t, i) => {
        if (this.kind[i] !== NONE) names.set(t.name, i);
      });
      this.names = names;
    }
    const i = this.names.get(name);
    return i === undefined ? undefined : this.param(i);
  }

  all(): BaseParam[] {
    if (this.everything === null) {
      const out: BaseParam[] = [];
      this.kind.forEach((k, i) => {
        if (k === PARAM) out.push(this.param(i));
      });
      this.everything = out;
    }
    return this.everything;
  }

  usualNames(): string[] {
    const out: string[] = [];
    this.kind.forEach((k, i) => {
      if (k !== PARAM) return;
      const t = this.tensors[i];
      if (!t) return;
      const made = this.made[i];
      const tm = this.templates[this.templateOf[i] ?? -1];
      if (made ? made.usual : tm !== undefined && tm.usualName && usualShape(t.shape))
        out.push(t.name);
    });
    return out;
  }
}
