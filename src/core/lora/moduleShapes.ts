/** What the shapes say about one module; each method's `describe` (methods/) produces these. */
import type { LoraModule, LoraModuleKind, LoraOrientation } from './types.js';

/** What the shapes say about one module. `problems` become shape-mismatch warnings. */
export interface ShapeFacts {
  readonly kind: LoraModuleKind;
  readonly label: string;
  readonly rank: number | null;
  readonly orientation: LoraOrientation | null;
  readonly inFeatures: number | null;
  readonly outFeatures: number | null;
  readonly kernel?: number[];
  readonly dora?: LoraModule['dora'];
  readonly problems: string[];
}
