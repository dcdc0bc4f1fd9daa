/**
 * The Compare view's part of the protocol (protocol.ts holds the requests): what the host sends about
 * two checkpoints and their differences. The full lists stay in the host; the view pages them.
 */

/** The lists of a comparison, each a paged table. */
export type CompareSection =
  'onlyA' | 'onlyB' | 'changed' | 'renamed' | 'modules' | 'moduleChanges' | 'norms';

export const COMPARE_SECTIONS: readonly CompareSection[] = [
  'onlyA',
  'onlyB',
  'changed',
  'renamed',
  'modules',
  'moduleChanges',
  'norms',
];

export interface CompareSideDto {
  readonly name: string;
  readonly path: string;
  readonly format: string;
  readonly tensors: number;
  readonly family: string;
  readonly modules: number;
}

export interface CompareSectionDto {
  readonly id: CompareSection;
  readonly label: string;
  readonly columns: readonly string[];
  readonly count: number;
}

export interface CompareSummaryDto {
  readonly a: CompareSideDto;
  readonly b: CompareSideDto;
  readonly differ: boolean;
  /** The kinds of difference found, in words ("3 keys only in A", "norms changed"). */
  readonly differences: readonly string[];
  /** Keys with the same name (or a rename), shape and dtype on both sides. */
  readonly same: number;
  readonly sections: readonly CompareSectionDto[];
  /** ‖ΔW_A − ΔW_B‖ was computed (it reads both adapters' tensors). */
  readonly normsComputed: boolean;
  /** Both sides are adapters, so the norms can be computed. */
  readonly canComputeNorms: boolean;
  readonly notes: readonly string[];
  readonly ms: number;
}

export type CompareReadyResult =
  | { readonly ok: true; readonly summary: CompareSummaryDto }
  | {
      readonly ok: false;
      readonly error: { readonly code: string; readonly message: string };
    };

export interface CompareRowsResult {
  readonly section: CompareSection;
  readonly start: number;
  /** One row of cells per entry, in the section's column order. */
  readonly rows: readonly (readonly string[])[];
}
