/** "layers.2" before "layers.10": the order people expect for module paths. */
export const naturalCompare = new Intl.Collator('en', { numeric: true, sensitivity: 'variant' })
  .compare;
