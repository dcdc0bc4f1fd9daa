import { parseArgs } from 'node:util';
import { DEFAULT_HUB_ENDPOINT, openPath } from '../core/formats/index.js';
import type { Checkpoint } from '../core/formats/checkpoint.js';
import { CheckpointError, toCheckpointError } from '../core/formats/errors.js';
import { analyzeLora } from '../core/lora/index.js';
import { scalarReader } from '../core/lora/checkpointScalars.js';
import type { ExportNaming } from '../core/mapping/export/index.js';
import type { EpName, SmokeError, SmokeErrorCode } from '../core/smoke/types.js';
import { inspectJson, inspectText } from './inspectReport.js';
import { statsText } from './loraReport.js';
import { inspectModel, modelText } from './modelReport.js';
import { combineUsage, DEFAULT_SMOKE_TIMEOUT_S, diffUsage, resizeUsage } from './usage.js';
import { writeJson } from './jsonOut.js';

import {
  EXIT_CHECK_FAILED,
  EXIT_OK,
  hubOptions,
  parseDtype,
  report,
  UsageError,
  type CommandRunner,
  type Io,
} from './cliCommon.js';

// Only what `inspect` needs is loaded up front: every other command's code (mapping, export,
// smoke, merge, surgery, compare) is imported when that command runs, so `inspect` starts fast.

export { EXIT_CHECK_FAILED, EXIT_INVALID, EXIT_OK, type Io } from './cliCommon.js';

declare const LORA_LENS_VERSION: string;
const VERSION = typeof LORA_LENS_VERSION === 'string' ? LORA_LENS_VERSION : 'dev';

const USAGE = `lora-lens ${VERSION}: inspect, map, export and smoke-test LoRA adapters

Usage:
  lora-lens inspect <path> [--base <path|hf:repo>] [--json] [--all | --limit N] [--stats]
  lora-lens extract <checkpoint> --out <file.safetensors> [--dtype f32|f16|bf16]
                    [--only-lora] [--adapter-config] [--json]
  lora-lens map <adapter> --base <path|hf:repo> [--mapping m.json] [--save-mapping m.json]
                [--strict] [--json]
  lora-lens export <adapter> --base <path|hf:repo> --out <file.safetensors>
                   [--naming base|peft|kohya|diffusers|gguf] [--mapping m.json] [--json]
  lora-lens smoke <adapter> --base <path|hf:repo> [--mapping m.json]
                  [--ep auto|cuda|webgpu|cpu] [--reference ref.safetensors]
                  [--cuda-provider-path DIR] [--timeout SECONDS] [--json]
  lora-lens merge <adapter> --base <path|hf:repo> --out <merged.onnx|merged.safetensors|folder>
                  [--dtype f32|f16|bf16] [--max-shard-size 5GB] [--mapping m.json] [--json]
  lora-lens diff <a> <b> [--norms] [--tolerance T] [--ignore-renames] [--limit N] [--json]
  lora-lens resize <adapter> --out <file|folder> (--rank N | --energy F | --ratio R) [--json]
  lora-lens combine <a1> <a2> … --weights w1,w2,… --out <file|folder> [--method cat|svd] [--json]

  <path> is a checkpoint file (.safetensors, .bin/.pt/.pth/.ckpt, .gguf, .onnx), a
  shard index (model.safetensors.index.json), a model or adapter folder, or a Hub
  repo as hf:org/name[@revision].

Commands:
  inspect   Read a checkpoint's header (never its weights) and print its summary,
            metadata, tensors and LoRA analysis (family, modules, rank, alpha,
            scale). Invalid files are refused with the rule they break.
            A model also gets its architecture (family, variant, dimensions,
            with the evidence), its parameters by part and memory estimates; an
            adapter gets its layers × modules grid, and with --base the base's
            architecture and memory at the adapter's rank.
  extract   Write a weights-only adapter: the LoRA tensors (and the full weights a
            loader needs with them, unless --only-lora), without optimizer state,
            counters or base weights. Bytes are copied unless --dtype asks for a
            conversion. The write is atomic; the source is never touched.
            --adapter-config also writes adapter_config.json beside the output.
  map       Suggest the base parameter each LoRA module patches, with a confidence,
            a level and a reason, and list what is unmatched on both sides.
            --mapping applies a reviewed mapping file (user decisions win);
            --strict exits 1 when anything is unmatched or in conflict.
  export    Write the adapter remapped into a target naming (weights only, bytes
            copied unless a transpose is needed). --naming peft also writes
            adapter_config.json beside --out.
  smoke     Run every mapped module through onnxruntime (in a child process) and
            compare it with a float64 reference: shapes, finite outputs, error,
            and how much the adapter changes the output. With an ONNX base, the
            whole model is also run merged (--reference: safetensors of
            input.<name> / output.<name> tensors to compare against).
            --ep picks the execution provider; auto tries cuda, webgpu, cpu.
            --cuda-provider-path is the folder of the CUDA/cuDNN libraries.
            --timeout stops the run (default ${DEFAULT_SMOKE_TIMEOUT_S} s). Exit 1 when a module or the
            model fails, or when the test could not run (no EP, crash, timeout).
  merge     Bake the adapter into the base's weights and write a new model; the base
            is never modified. An ONNX base gives an ONNX model (external data beside
            it). Any other base (safetensors, sharded, folder, .bin, GGUF, GPTQ, AWQ,
            bitsandbytes, FP8, compressed-tensors) gives the float model W + s·ΔW as
            safetensors, in the base's float dtype or --dtype, split into shards with
            an index above --max-shard-size (default 5GiB); a folder --out also gets
            config.json. Quantized weights are dequantized, never re-quantized.

Compare:
  ${diffUsage}

Surgery (each writes a weights-only adapter atomically; sources are never touched):
  ${resizeUsage}
  ${combineUsage}

Options:
  --json       Print exactly one JSON object on stdout.
  --all        List every tensor (text mode lists the first 50).
  --stats      Also read each LoRA module's tensors once: ‖scale·B·A‖, max |w|,
               NaN/Inf counts, untrained (all-zero) B.
  --limit N    List the first N tensors in text mode.
  --hub-endpoint URL   Hub endpoint (default $HF_ENDPOINT or ${DEFAULT_HUB_ENDPOINT}).
               The Hub token is read from $HF_TOKEN.
  -h, --help   Show this help.
  -v, --version

Exit codes: 0 success, 1 a check failed, 2 invalid input or usage.`;

/** Commands with options of their own: they parse everything after their name themselves. */
const OWN_PARSER: Readonly<Record<string, () => Promise<CommandRunner>>> = {
  resize: async () => (await import('./resizeCommand.js')).resizeCli,
  combine: async () => (await import('./combineCommand.js')).combineCli,
  diff: async () => (await import('./diffCommand.js')).diffCli,
};

export async function main(argv: string[], io: Io): Promise<number> {
  const json = argv.includes('--json');
  const own = argv[0] !== undefined ? OWN_PARSER[argv[0]] : undefined;
  if (own && !argv.slice(1).some((a) => a === '-h' || a === '--help'))
    return (await own())(argv.slice(1), io);
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: 'boolean' },
        all: { type: 'boolean' },
        limit: { type: 'string' },
        'hub-endpoint': { type: 'string' },
        out: { type: 'string', short: 'o' },
        dtype: { type: 'string' },
        'only-lora': { type: 'boolean' },
        'adapter-config': { type: 'boolean' },
        stats: { type: 'boolean' },
        base: { type: 'string' },
        mapping: { type: 'string' },
        naming: { type: 'string' },
        strict: { type: 'boolean' },
        'save-mapping': { type: 'string' },
        ep: { type: 'string' },
        reference: { type: 'string' },
        'cuda-provider-path': { type: 'string' },
        timeout: { type: 'string' },
        'max-shard-size': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (e) {
    return report(io, json, 'UsageError', `${(e as Error).message}\n\n${json ? '' : USAGE}`.trim());
  }
  const { values, positionals } = parsed;
  if (values.version) {
    io.out(json ? JSON.stringify({ version: VERSION }) : VERSION);
    return EXIT_OK;
  }
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === 'help') {
    if (command === undefined && !values.help)
      return report(
        io,
        json,
        'UsageError',
        json ? 'no command given' : `no command given\n\n${USAGE}`,
      );
    io.out(USAGE);
    return EXIT_OK;
  }
  try {
    switch (command) {
      case 'inspect':
        return await inspect(
          io,
          rest,
          json,
          values.all === true ? Infinity : parseLimit(values.limit),
          values['hub-endpoint'],
          values.stats === true,
          values.base,
        );
      case 'extract': {
        if (rest.length !== 1) throw new UsageError('extract takes one checkpoint');
        if (!values.out) throw new UsageError('extract needs --out <file.safetensors>');
        const dtype = parseDtype(values.dtype);
        const { extractText, runExtract } = await import('./extract.js');
        const result = await runExtract(rest[0] as string, {
          out: values.out,
          onlyLora: values['only-lora'] === true,
          adapterConfig: values['adapter-config'] === true,
          ...(dtype ? { dtype } : {}),
        });
        io.out(json ? JSON.stringify(result, null, 2) : extractText(result));
        return EXIT_OK;
      }
      case 'map': {
        if (rest.length !== 1) throw new UsageError('map takes one adapter');
        if (!values.base) throw new UsageError('map needs --base <path|hf:repo>');
        const { mapExitCode, mapText, runMap } = await import('./mapCommands.js');
        const j = await runMap(rest[0] as string, values.base, {
          ...(values.mapping ? { mappingPath: values.mapping } : {}),
          ...(values['save-mapping'] ? { savePath: values['save-mapping'] } : {}),
          strict: values.strict === true,
          hub: hubOptions(values['hub-endpoint']),
          identities: json,
        });
        io.out(json ? JSON.stringify(j, null, 2) : mapText(j));
        return mapExitCode(j, values.strict === true);
      }
      case 'export': {
        if (rest.length !== 1) throw new UsageError('export takes one adapter');
        if (!values.base) throw new UsageError('export needs --base <path|hf:repo>');
        if (!values.out) throw new UsageError('export needs --out <file.safetensors>');
        const naming = values.naming ?? 'base';
        const { EXPORT_NAMINGS } = await import('../core/mapping/export/index.js');
        const { exportText, runExport } = await import('./mapCommands.js');
        if (!(EXPORT_NAMINGS as readonly string[]).includes(naming)) {
          throw new UsageError(
            `--naming must be one of ${EXPORT_NAMINGS.join(', ')}, got "${naming}"`,
          );
        }
        const j = await runExport(rest[0] as string, values.base, {
          out: values.out,
          naming: naming as ExportNaming,
          ...(values.mapping ? { mappingPath: values.mapping } : {}),
          hub: hubOptions(values['hub-endpoint']),
        });
        io.out(json ? JSON.stringify(j, null, 2) : exportText(j));
        return EXIT_OK;
      }
      case 'smoke': {
        if (rest.length !== 1) throw new UsageError('smoke takes one adapter');
        if (!values.base) throw new UsageError('smoke needs --base <path|hf:repo>');
        const ep = values.ep ?? 'auto';
        const { SMOKE_EPS, runSmokeCli, smokeExitCode, smokeJson, smokeText } =
          await import('./smokeCommand.js');
        if (!SMOKE_EPS.includes(ep))
          throw new UsageError(`--ep must be one of ${SMOKE_EPS.join(', ')}, got "${ep}"`);
        const r = await runSmokeCli(rest[0] as string, values.base, {
          ep: ep as EpName | 'auto',
          timeoutMs: parseTimeout(values.timeout) * 1000,
          hub: hubOptions(values['hub-endpoint']),
          ...(values.mapping ? { mappingPath: values.mapping } : {}),
          ...(values.reference ? { referencePath: values.reference } : {}),
          ...(values['cuda-provider-path']
            ? { cudaProviderPath: values['cuda-provider-path'] }
            : {}),
          // Progress goes to stderr, so stdout stays the report (and stays clean with --json).
          ...(json ? {} : { onProgress: (line: string) => io.err(line) }),
        });
        io.out(json ? JSON.stringify(smokeJson(r), null, 2) : smokeText(r));
        return smokeExitCode(r);
      }
      case 'merge': {
        if (rest.length !== 1) throw new UsageError('merge takes one adapter');
        if (!values.base) throw new UsageError('merge needs --base <path|hf:repo>');
        if (!values.out)
          throw new UsageError('merge needs --out <merged.onnx|merged.safetensors|folder>');
        const dtype = parseDtype(values.dtype);
        const { parseShardSize } = await import('../core/export/merge/shards.js');
        const { mergeText, runMerge } = await import('./mergeCommand.js');
        const r = await runMerge(rest[0] as string, values.base, {
          out: values.out,
          ...(dtype ? { dtype } : {}),
          ...(values['max-shard-size']
            ? { maxShardBytes: parseShardSize(values['max-shard-size']) }
            : {}),
          ...(values.mapping ? { mappingPath: values.mapping } : {}),
          hub: hubOptions(values['hub-endpoint']),
        });
        io.out(json ? JSON.stringify(r, null, 2) : mergeText(r));
        return EXIT_OK;
      }
      default:
        throw new UsageError(`unknown command "${command}" (try: lora-lens --help)`);
    }
  } catch (e) {
    if (e instanceof UsageError) return report(io, json, e.code, e.message);
    // Loaded only on this path: only the smoke command's code throws SmokeError.
    const { SmokeError } = await import('../core/smoke/types.js');
    if (e instanceof SmokeError) return smokeFailure(io, json, e);
    const err = e instanceof CheckpointError ? e : toCheckpointError(e);
    return report(io, json, err.code, err.message, err.subject);
  }
}

/** Smoke errors about the input exit 2; the others mean the test could not run, which fails it (1). */
const SMOKE_INPUT_ERRORS: ReadonlySet<SmokeErrorCode> = new Set([
  'NothingToTest',
  'InvalidReference',
]);

function smokeFailure(io: Io, json: boolean, e: SmokeError): number {
  if (SMOKE_INPUT_ERRORS.has(e.code)) return report(io, json, e.code, e.message);
  if (json) io.out(JSON.stringify({ ok: false, error: { code: e.code, message: e.message } }));
  else io.err(`lora-lens: ${e.code}: ${e.message}`);
  return EXIT_CHECK_FAILED;
}

function parseTimeout(value: string | undefined): number {
  if (value === undefined) return DEFAULT_SMOKE_TIMEOUT_S;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`--timeout needs a positive number of seconds, got "${value}"`);
  return n;
}

function parseLimit(value: string | undefined): number {
  if (value === undefined) return 50;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new UsageError(`--limit needs a whole number, got "${value}"`);
  return n;
}

async function inspect(
  io: Io,
  args: string[],
  json: boolean,
  limit: number,
  hubEndpoint: string | undefined,
  withStats = false,
  basePath?: string,
): Promise<number> {
  if (args.length !== 1)
    throw new UsageError(args.length === 0 ? 'inspect needs a path' : 'inspect takes one path');
  const path = args[0] as string;
  const ckpt = await openPath(path, { hub: hubOptions(hubEndpoint) });
  let base: Checkpoint | undefined;
  try {
    const lora = await analyzeLora(ckpt, { readScalar: scalarReader(ckpt) });
    if (basePath !== undefined) {
      if (lora.modules.length === 0)
        throw new UsageError('--base is for an adapter, and this file has no LoRA modules');
      base = await openPath(basePath, { hub: hubOptions(hubEndpoint) });
    }
    const stats =
      withStats && lora.modules.length
        ? await (
            await import('../core/lora/stats/index.js')
          ).computeAllStats(ckpt, lora, {
            concurrency: 2,
          })
        : undefined;
    const model = inspectModel(ckpt, lora, base ?? null, stats);
    if (json)
      writeJson(io, {
        ...inspectJson(path, ckpt),
        lora,
        ...model,
        ...(withStats ? { stats: stats ?? [] } : {}),
      });
    else
      io.out(
        inspectText(path, ckpt, limit, lora) +
          `\n${modelText(model)}` +
          (stats ? `\n${statsText(stats)}` : ''),
      );
    return EXIT_OK;
  } finally {
    await base?.close();
    await ckpt.close();
  }
}
