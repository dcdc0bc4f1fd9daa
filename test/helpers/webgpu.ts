/**
 * WebGPU tests skip where the machine has no Vulkan driver (most dev boxes without Mesa from
 * backports). CI installs one and sets LORA_LENS_REQUIRE_WEBGPU=1, and then a WebGPU failure is a
 * failure, never a skip, so the GPU code path is really tested on every change.
 */
export const WEBGPU_REQUIRED = process.env['LORA_LENS_REQUIRE_WEBGPU'] === '1';

/** Skips the test with `why`, or fails it when CI requires WebGPU. */
export function skipWithoutWebgpu(t: { skip(message: string): void }, why: string): void {
  if (WEBGPU_REQUIRED)
    throw new Error(`WebGPU is required here (LORA_LENS_REQUIRE_WEBGPU=1) but failed: ${why}`);
  t.skip(`WebGPU is not available here: ${why}`);
}
