import type { Recognizer } from '../recognizer.js';
import { bertRecognizer, t5Recognizer } from './encoders.js';
import { ggufLlmRecognizer } from './gguf.js';
import { falconRecognizer, gpt2Recognizer, gptNeoxRecognizer, optRecognizer } from './gptLike.js';
import { llamaLikeRecognizer } from './llamaLike.js';

/**
 * LLM recognisers, more specific first. Their block signatures do not overlap, so at most one claims a
 * given block group; the order only matters to a dispatcher that stops at the first claim.
 */
export const LLM_RECOGNIZERS: readonly Recognizer[] = [
  t5Recognizer,
  bertRecognizer,
  falconRecognizer,
  gptNeoxRecognizer,
  optRecognizer,
  gpt2Recognizer,
  llamaLikeRecognizer,
  ggufLlmRecognizer,
];
