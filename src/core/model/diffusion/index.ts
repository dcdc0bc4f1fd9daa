import type { Recognizer } from '../recognizer.js';
import { fluxRecognizer } from './flux.js';
import { mmditRecognizer } from './mmdit.js';
import { qwenImageRecognizer } from './qwenImage.js';
import { clipRecognizer, t5EncoderRecognizer } from './textEncoders.js';
import { unetRecognizer } from './unet.js';
import { vaeRecognizer } from './vae.js';

/** Diffusion-model recognisers, denoiser first (it is the main part of a single-file checkpoint). */
export const DIFFUSION_RECOGNIZERS: readonly Recognizer[] = [
  unetRecognizer,
  mmditRecognizer,
  fluxRecognizer,
  qwenImageRecognizer,
  clipRecognizer,
  t5EncoderRecognizer,
  vaeRecognizer,
];
