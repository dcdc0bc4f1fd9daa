/**
 * Keyboard movement shared by the windowed lists (tensor tree, smoke-test rows): rows have a fixed
 * height, so the selected row's position, and the scroll that keeps it visible, follow from its index.
 */

/** Scrolls `viewport` just enough that row `index` is fully visible. */
export function scrollRowIntoView(viewport: HTMLElement, index: number, rowHeight: number): void {
  const top = index * rowHeight;
  if (top < viewport.scrollTop) viewport.scrollTop = top;
  else if (top + rowHeight > viewport.scrollTop + viewport.clientHeight)
    viewport.scrollTop = top + rowHeight - viewport.clientHeight;
}

/** ↑ ↓ PgUp PgDn Home End, as key → action, moving the selection through `count` rows. */
export function movementKeys(
  viewport: HTMLElement,
  rowHeight: number,
  selected: number,
  count: number,
  select: (index: number) => void,
): Record<string, () => void> {
  const page = Math.max(1, Math.floor(viewport.clientHeight / rowHeight) - 1);
  return {
    ArrowDown: () => select(selected + 1),
    ArrowUp: () => select(selected - 1),
    PageDown: () => select(selected + page),
    PageUp: () => select(selected - page),
    Home: () => select(0),
    End: () => select(count - 1),
  };
}
