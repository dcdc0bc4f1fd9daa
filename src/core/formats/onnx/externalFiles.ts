import type { TensorInfo } from '../checkpoint.js';
import type { Siblings } from '../files.js';
import type { TensorStorage } from './layout.js';

/** At most this many tensors are named in one warning. */
const NAMED_IN_WARNING = 3;

function someNames(names: string[]): string {
  const shown = names.slice(0, NAMED_IN_WARNING).map((n) => `"${n}"`);
  const more = names.length - shown.length;
  return more > 0 ? `${shown.join(', ')} and ${more} more` : shown.join(', ');
}

/**
 * Looks at each external data file once (existence and size, never content). A missing file or a
 * range past its end does not stop the model from opening: the tensors stay listed, a warning says
 * why they cannot be read, and reading them fails with a named error.
 */
export async function checkExternalFiles(
  tensors: readonly TensorInfo[],
  storage: ReadonlyMap<string, TensorStorage>,
  siblings: Siblings | undefined,
): Promise<string[]> {
  const byFile = new Map<string, TensorInfo[]>();
  for (const t of tensors) {
    if (t.file === undefined) continue;
    const list = byFile.get(t.file);
    if (list) list.push(t);
    else byFile.set(t.file, [t]);
  }
  const warnings: string[] = [];
  for (const [file, list] of byFile) {
    const mark = (t: TensorInfo, code: 'ExternalDataMissing' | 'Truncated', message: string) => {
      const s = storage.get(t.name);
      if (s?.kind === 'external') s.problem = { code, message };
    };
    const size = siblings && (await siblings.exists(file)) ? await siblings.size(file) : undefined;
    if (size === undefined) {
      const why = siblings
        ? `"${file}" is missing from ${siblings.label}`
        : `"${file}" cannot be reached: the model was opened without its folder`;
      for (const t of list) mark(t, 'ExternalDataMissing', `external data file ${why}`);
      const count = `${list.length} tensor${list.length === 1 ? '' : 's'}`;
      warnings.push(`external data file ${why}; ${count} cannot be read`);
      continue;
    }
    const short = list.filter((t) => t.offset + t.byteLength > size);
    for (const t of short) {
      mark(
        t,
        'Truncated',
        `tensor "${t.name}" needs bytes ${t.offset}..${t.offset + t.byteLength} of "${file}", which has ${size} bytes`,
      );
    }
    if (short.length > 0) {
      warnings.push(
        `external data file "${file}" (${size} bytes) is too short for ${someNames(short.map((t) => t.name))}; is it truncated?`,
      );
    }
  }
  return warnings;
}
