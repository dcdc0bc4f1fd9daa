/**
 * One model output, merged against base and against the reference: finite, how much the adapter
 * changes it, and whether it agrees with the reference within the tolerance of onnxruntime.md §16.
 */
import type * as Ort from 'onnxruntime-node';
import type { SmokeModelOutput } from '../types.js';
import { numbersOf } from './ortValues.js';

export interface Tolerance {
  readonly rtol: number;
  readonly atol: number;
}

/** An adapter whose relative change is at most this changes nothing. */
export const NO_CHANGE = 1e-6;

/** fp32 1e-4/1e-4 (PEFT's merge tests); fp16 1e-3; bf16 1.6e-2/1e-3; convs at least 1e-3. */
export function toleranceFor(dtypes: Iterable<string>, conv: boolean): Tolerance {
  let t: Tolerance = { rtol: 1e-4, atol: 1e-4 };
  const loosen = (o: Tolerance) => {
    t = { rtol: Math.max(t.rtol, o.rtol), atol: Math.max(t.atol, o.atol) };
  };
  for (const d of dtypes) {
    if (d === 'F16' || d === 'float16') loosen({ rtol: 1e-3, atol: 1e-3 });
    if (d === 'BF16') loosen({ rtol: 1.6e-2, atol: 1e-3 });
  }
  if (conv) loosen({ rtol: 1e-3, atol: 1e-3 });
  return t;
}

const fmt = (x: number): string => x.toExponential(2);

export interface Agreement {
  readonly maxAbsErr: number;
  /** Elements outside atol + rtol·|expected|. */
  readonly outside: number;
}

export function agreement(actual: Float64Array, expected: Float64Array, tol: Tolerance): Agreement {
  let maxAbsErr = 0;
  let outside = 0;
  for (let i = 0; i < actual.length; i++) {
    const e = expected[i] as number;
    const err = Math.abs((actual[i] as number) - e);
    // NaN compares false: count it as outside.
    if (!(err <= tol.atol + tol.rtol * Math.abs(e))) outside++;
    if (!(err <= maxAbsErr)) maxAbsErr = err;
  }
  return { maxAbsErr, outside };
}

function relativeChange(base: Float64Array, merged: Float64Array): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < base.length; i++) {
    const b = base[i] as number;
    const d = (merged[i] as number) - b;
    diff += d * d;
    norm += b * b;
  }
  if (norm === 0) return diff === 0 ? 0 : Infinity;
  return Math.sqrt(diff / norm);
}

export interface ExpectedOutput {
  readonly label: string;
  readonly shape: readonly number[];
  readonly values: Float64Array;
}

/** Compares one output; every failure becomes a problem line that names the output. */
export function compareOutput(
  name: string,
  base: Ort.Tensor,
  merged: Ort.Tensor,
  expected: ExpectedOutput | undefined,
  tol: Tolerance,
): { output: SmokeModelOutput; problems: string[] } {
  const problems: string[] = [];
  const b = numbersOf(base);
  const m = numbersOf(merged);
  const shape = [...merged.dims];
  if (!b || !m) {
    return {
      output: {
        name,
        shape,
        finite: true,
        relativeChange: 0,
        maxAbsErrVsReference: null,
        ok: true,
      },
      problems: [`output ${name} is not numeric; not compared`],
    };
  }
  const finite = m.every(Number.isFinite);
  if (!finite) problems.push(`output ${name}: the merged model gives non-finite values`);
  const change = relativeChange(b, m);
  if (!(change > NO_CHANGE))
    problems.push(
      `output ${name}: the adapter changes nothing (‖merged − base‖ / ‖base‖ = ${fmt(change)})`,
    );
  let maxAbsErrVsReference: number | null = null;
  let agrees = true;
  if (expected) {
    if (expected.values.length !== m.length || expected.shape.join() !== shape.join()) {
      agrees = false;
      problems.push(
        `output ${name}: the model gives shape [${shape.join(', ')}], ${expected.label} has [${expected.shape.join(', ')}]`,
      );
    } else {
      const a = agreement(m, expected.values, tol);
      maxAbsErrVsReference = a.maxAbsErr;
      agrees = a.outside === 0;
      if (!agrees)
        problems.push(
          `output ${name}: max |merged − ${expected.label}| = ${fmt(a.maxAbsErr)}, beyond atol ${fmt(tol.atol)} + rtol ${fmt(tol.rtol)}·|expected| at ${a.outside} of ${m.length} values`,
        );
    }
  }
  return {
    output: {
      name,
      shape,
      finite,
      relativeChange: change,
      maxAbsErrVsReference,
      ok: finite && agrees && change > NO_CHANGE,
    },
    problems,
  };
}
