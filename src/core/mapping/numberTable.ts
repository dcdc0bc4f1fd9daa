/**
 * Numbers → members, for one template of the base index (templateIndex.ts). Layer and expert numbers
 * are small and dense, so most templates get a flat typed array indexed by the numbers (no key, no
 * allocation per member); others a Map keyed by the numbers in words.
 */

/** Above this, a dense table would be mostly holes. */
const DENSE_SLACK = 4;
const MAX_DENSE_DIM = 2 ** 20;

/** The numeric segments of a name, in order (a name whose numbers are canonical: no leading zeros). */
export function numbersOfName(name: string, out: Float64Array, at: number): void {
  let k = at;
  let value = 0;
  let digits = true;
  let empty = true;
  for (let i = 0; i <= name.length; i++) {
    const c = i < name.length ? name.charCodeAt(i) : 46;
    if (c === 46 /* . */) {
      if (digits && !empty) out[k++] = value;
      value = 0;
      digits = true;
      empty = true;
    } else if (c >= 48 && c <= 57) {
      value = value * 10 + (c - 48);
      empty = false;
    } else digits = false;
  }
}

export class NumberTable {
  private readonly dims: number[] = [];
  private readonly slots: Int32Array | null = null;
  /** Slot (dense) or numbers in words (sparse) → members, where a slot holds more than one. */
  private readonly many = new Map<number | string, number[]>();

  constructor(
    private readonly count: number,
    members: readonly number[],
    nameOf: (tensor: number) => string,
  ) {
    const nums = new Float64Array(members.length * count);
    members.forEach((t, k) => numbersOfName(nameOf(t), nums, k * count));
    const max = new Array<number>(count).fill(0);
    nums.forEach((x, j) => {
      const d = j % count;
      if (x > (max[d] ?? 0)) max[d] = x;
    });
    let size = 1;
    for (const m of max) size *= m + 1;
    const dense =
      max.every((m) => m < MAX_DENSE_DIM) && size <= Math.max(1024, DENSE_SLACK * members.length);
    if (dense) {
      this.dims = max.map((m) => m + 1);
      const slots = new Int32Array(size);
      members.forEach((t, k) => {
        const s = this.slotOf(nums, k * count);
        const had = slots[s] ?? 0;
        if (had === 0) slots[s] = t + 1;
        else {
          const list = this.many.get(s);
          if (list) list.push(t);
          else this.many.set(s, [had - 1, t]);
        }
      });
      this.slots = slots;
    } else
      members.forEach((t, k) => {
        const id = Array.from(nums.subarray(k * count, (k + 1) * count)).join(',');
        const list = this.many.get(id);
        if (list) list.push(t);
        else this.many.set(id, [t]);
      });
  }

  private slotOf(nums: ArrayLike<number>, at: number): number {
    let s = 0;
    for (let d = 0; d < this.count; d++) s = s * (this.dims[d] ?? 1) + (nums[at + d] ?? 0);
    return s;
  }

  /** Members whose numbers are `nums`, in checkpoint order. */
  get(nums: readonly number[]): readonly number[] {
    if (nums.length !== this.count) return [];
    if (this.slots === null) return this.many.get(nums.join(',')) ?? [];
    if (nums.some((x, d) => x >= (this.dims[d] ?? 0))) return [];
    const s = this.slotOf(nums, 0);
    const list = this.many.get(s);
    if (list) return list;
    const t = this.slots[s] ?? 0;
    return t === 0 ? [] : [t - 1];
  }
}
