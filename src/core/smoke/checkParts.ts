/** The checks every module result shares, whatever the method: role, delta size, status. */
import type { ModulePlan } from './modulePlan.js';
import { rolesAgree } from './modulePlan.js';
import { allFinite, norm2 } from './reference.js';
import type { SmokeCheck, SmokeStatus } from './types.js';

/** ‖Δ‖/‖W·x‖ below this: the adapter changes nothing (an untrained, all-zero B). */
export const NO_EFFECT_RATIO = 1e-6;
/** ‖Δ‖/‖W·x‖ above this: the adapter swamps the base (a wrong scale, alpha read as rank, …). */
export const EXPLOSION_RATIO = 10;

/** What the shared checks read of a plan (LoRA pair or method effect). */
export type CheckedPlan = Pick<ModulePlan, 'module' | 'entry' | 'roles' | 'scale' | 'scaleNote'>;

const short = (role: string): string => role.replace(/^@/, '');

export function roleCheck(plan: CheckedPlan): SmokeCheck {
  const { module: mr, target: tr } = plan.roles;
  const agree = rolesAgree(mr, tr);
  if (agree === null)
    return { name: 'role', ok: true, severity: 'info', message: 'roles not known on both sides' };
  if (agree)
    return {
      name: 'role',
      ok: true,
      severity: 'info',
      message: `${short(mr ?? '')} projection onto ${short(tr ?? '')}`,
    };
  return {
    name: 'role',
    ok: false,
    severity: 'error',
    message: `module ${plan.module.target} (${short(mr ?? '')}) is mapped to ${plan.entry.target} (${short(tr ?? '')})`,
  };
}

export function statusOf(checks: readonly SmokeCheck[]): SmokeStatus {
  if (checks.some((c) => !c.ok && c.severity === 'error')) return 'fail';
  if (checks.some((c) => c.severity === 'warning')) return 'warn';
  return 'pass';
}

const pct = (x: number): string =>
  x >= 10 ? `${x.toFixed(0)}×` : x >= 0.001 ? `${(x * 100).toFixed(2)}%` : x.toExponential(2);

export function deltaCheck(plan: CheckedPlan, ratio: number): SmokeCheck {
  const scale = `scale ${plan.scale}${plan.module.scaleRule ? ` = ${plan.module.scaleRule}` : ''}`;
  // An all-zero base weight says nothing about the adapter: no ratio, but worth a look.
  if (!Number.isFinite(ratio))
    return {
      name: 'delta',
      ok: true,
      severity: 'warning',
      message: `the base output is zero (an all-zero weight?), so the delta has nothing to compare with (${scale})`,
    };
  if (ratio > EXPLOSION_RATIO)
    return {
      name: 'delta',
      ok: false,
      severity: 'error',
      message: `delta ${ratio.toFixed(0)}× the base output — wrong scale? (${scale})`,
    };
  if (ratio < NO_EFFECT_RATIO)
    return {
      name: 'delta',
      ok: true,
      severity: 'warning',
      message: `adapter has no effect (‖Δ‖/‖W·x‖ = ${ratio.toExponential(1)}) — untrained B?`,
    };
  return {
    name: 'delta',
    ok: true,
    severity: plan.scaleNote ? 'warning' : 'info',
    message: `‖Δ‖/‖W·x‖ = ${pct(ratio)} (${scale})${plan.scaleNote ? `; ${plan.scaleNote}` : ''}`,
  };
}

export function nonFinite(v: Float32Array): number {
  let n = 0;
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i])) n++;
  return n;
}

/** The finite check over a graph's three outputs. */
export function finiteCheck(outputs: {
  readonly y: Float32Array;
  readonly base: Float32Array;
  readonly delta: Float32Array;
}): SmokeCheck {
  const bad = Object.entries(outputs).filter(([, v]) => !allFinite(v));
  return bad.length === 0
    ? { name: 'finite', ok: true, severity: 'info', message: 'all outputs finite' }
    : {
        name: 'finite',
        ok: false,
        severity: 'error',
        message: bad.map(([n, v]) => `${n} has ${nonFinite(v)} non-finite values`).join('; '),
      };
}

/** ‖Δ‖/‖W·x‖ from ORT's own outputs (Infinity when the base output is zero and the delta is not). */
export function deltaRatioOf(base: Float32Array, delta: Float32Array): number {
  const nb = norm2(base);
  const nd = norm2(delta);
  return nb === 0 ? (nd === 0 ? 0 : Infinity) : nd / nb;
}
