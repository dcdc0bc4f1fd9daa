/** "layers.2" before "layers.10": the order people expect for module paths. */
// The collator is made on first use: building it loads ICU data, which most CLI runs never need.
let collator: Intl.Collator | undefined;
const PLAIN_NUMBER = /^(?:0|[1-9][0-9]*)$/;
export const naturalCompare = (a: string, b: string): number => {
  // Two plain numbers (layer and block indices, most of a big tree's labels): by value, as the
  // collator orders them, without asking it.
  if (PLAIN_NUMBER.test(a) && PLAIN_NUMBER.test(b))
    return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
  return (collator ??= new Intl.Collator('en', { numeric: true, sensitivity: 'variant' })).compare(
    a,
    b,
  );
};
