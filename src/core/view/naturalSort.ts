/** "layers.2" before "layers.10": the order people expect for module paths. */
// The collator is made on first use: building it loads ICU data, which most CLI runs never need.
let collator: Intl.Collator | undefined;
export const naturalCompare = (a: string, b: string): number =>
  (collator ??= new Intl.Collator('en', { numeric: true, sensitivity: 'variant' })).compare(a, b);
