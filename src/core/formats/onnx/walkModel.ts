import type { ByteSource } from '../byteSource.js';
import type { TensorConsumer } from '../checkpoint.js';
import { CheckpointError } from '../errors.js';
import { LIMITS } from './limits.js';
import { readStringEntry, walkTensor, type InitializerRecord } from './walkTensor.js';
import { ProtoReader, WIRE_LEN, WIRE_VARINT, expectWire, int64, type Field } from './wire.js';

/** Everything the reader keeps from a ModelProto: no tensor data. */
export interface ModelFacts {
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  opsets: { domain: string; version: number }[];
  metadataProps: [string, string][];
  graphName?: string;
  initializers: InitializerRecord[];
  /** Nodes reading each value name, in graph order (a node's subgraphs after the node). */
  consumers: Map<string, TensorConsumer[]>;
  nodes: number;
  subgraphNodes: number;
  graphInputs: number;
  graphOutputs: number;
  sparseInitializers: number;
  functions: number;
  /** Op type counts over all graphs. */
  opTypes: Map<string, number>;
  /** Bytes read from the file to learn all this. */
  bytesRead: number;
}

type ConsumerSink = (input: string, consumer: TensorConsumer) => void;

// Field numbers from onnx/onnx.proto.
const MODEL = {
  irVersion: 1,
  producerName: 2,
  producerVersion: 3,
  domain: 4,
  modelVersion: 5,
  docString: 6,
  graph: 7,
  opsetImport: 8,
  metadataProps: 14,
  functions: 25,
};
const GRAPH = { node: 1, name: 2, initializer: 5, input: 11, output: 12, sparseInitializer: 15 };
const NODE = { input: 1, name: 3, opType: 4, attribute: 5, metadataProps: 9 };
const ATTRIBUTE = { g: 6, graphs: 11 };

/** torch.onnx (dynamo) node metadata: the nn.Module scopes a node was traced in. */
const NAME_SCOPES_KEY = 'pkg.torch.onnx.name_scopes';
/** torch.onnx (dynamo) node metadata: `scope: class/scope: class/…`. */
const NAMESPACE_KEY = 'namespace';
/** Node metadata values longer than this are not read. */
const SCOPE_VALUE_BYTES = 64 * 1024;
const MODULE_PATH = /^[A-Za-z_][\w-]*(\.[\w-]+)*$/;

/**
 * The module path a dynamo-exported node was traced in: the deepest scope of
 * `pkg.torch.onnx.name_scopes` (a Python list repr, `['', 'model', 'model.layers.0', …, 'linear']`)
 * or else of `namespace`. The last entry of either is the node itself, not a module, and is dropped.
 */
export function moduleScope(nameScopes?: string, namespace?: string): string | undefined {
  const deepest = (entries: string[]): string | undefined => {
    const modules = entries.slice(0, -1).filter((e) => e !== '');
    const last = modules[modules.length - 1];
    return last !== undefined && MODULE_PATH.test(last) ? last : undefined;
  };
  if (nameScopes !== undefined) {
    const entries = [...nameScopes.matchAll(/'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"/g)].map(
      (m) => m[1] ?? m[2] ?? '',
    );
    const found = deepest(entries);
    if (found) return found;
  }
  if (namespace !== undefined) {
    return deepest(namespace.split('/').map((s) => s.split(': ')[0] ?? ''));
  }
  return undefined;
}

const limit = (message: string) => new CheckpointError('LimitExceeded', message);

/** Walks a ModelProto field by field, reading names and shapes and skipping every payload of data. */
export async function walkModel(source: ByteSource): Promise<ModelFacts> {
  if (source.size === 0) {
    throw new CheckpointError('InvalidOnnx', `${source.name} is empty, not an ONNX model`);
  }
  const walker = new ModelWalker(new ProtoReader(source));
  return walker.model();
}

class ModelWalker {
  private readonly facts: ModelFacts = {
    opsets: [],
    metadataProps: [],
    initializers: [],
    consumers: new Map(),
    nodes: 0,
    subgraphNodes: 0,
    graphInputs: 0,
    graphOutputs: 0,
    sparseInitializers: 0,
    functions: 0,
    opTypes: new Map(),
    bytesRead: 0,
  };
  private nodeInputs = 0;
  private sawGraph = false;

  constructor(private readonly r: ProtoReader) {}

  private str(f: Field, what: string): Promise<string> {
    return this.r.string(f, LIMITS.stringBytes, what);
  }

  private varint(f: Field, what: string): number {
    expectWire(f, WIRE_VARINT, what);
    return int64(f.value, what);
  }

  /** The end offset of a LEN field's payload: the sub-message it holds. */
  private messageEnd(f: Field, what: string): number {
    expectWire(f, WIRE_LEN, what);
    return this.r.pos + f.length;
  }

  async model(): Promise<ModelFacts> {
    const { r, facts } = this;
    const end = r.fileSize;
    while (r.pos < end) {
      const f = await r.next(end);
      switch (f.number) {
        case MODEL.irVersion:
          facts.irVersion = this.varint(f, 'ModelProto.ir_version');
          break;
        case MODEL.producerName:
          facts.producerName = await this.str(f, 'ModelProto.producer_name');
          break;
        case MODEL.producerVersion:
          facts.producerVersion = await this.str(f, 'ModelProto.producer_version');
          break;
        case MODEL.domain:
          facts.domain = await this.str(f, 'ModelProto.domain');
          break;
        case MODEL.modelVersion:
          facts.modelVersion = this.varint(f, 'ModelProto.model_version');
          break;
        case MODEL.docString:
          facts.docString = await this.docString(f);
          break;
        case MODEL.graph:
          if (this.sawGraph) {
            throw new CheckpointError('InvalidOnnx', `a second graph at byte ${f.at}`);
          }
          this.sawGraph = true;
          await this.graph(this.messageEnd(f, 'ModelProto.graph'), 0, this.topLevelSink());
          break;
        case MODEL.opsetImport:
          this.countEntry(facts.opsets.length);
          facts.opsets.push(await this.opset(this.messageEnd(f, 'ModelProto.opset_import')));
          break;
        case MODEL.metadataProps:
          this.countEntry(facts.metadataProps.length);
          facts.metadataProps.push(
            await readStringEntry(r, this.messageEnd(f, 'ModelProto.metadata_props')),
          );
          break;
        case MODEL.functions:
          facts.functions++;
          r.skip(f);
          break;
        default:
          r.skip(f);
      }
    }
    if (!this.sawGraph) {
      throw new CheckpointError(
        'InvalidOnnx',
        'the file has no graph: it is not an ONNX model, or not a complete one',
      );
    }
    facts.bytesRead = r.bytesRead;
    return facts;
  }

  private countEntry(count: number): void {
    if (count >= LIMITS.modelEntries) {
      throw limit(
        `the model has over ${LIMITS.modelEntries} opset_import or metadata_props entries`,
      );
    }
  }

  private async docString(f: Field): Promise<string> {
    expectWire(f, WIRE_LEN, 'ModelProto.doc_string');
    if (f.length <= LIMITS.docStringBytes) return this.str(f, 'ModelProto.doc_string');
    const head = await this.r.string(
      { ...f, length: LIMITS.docStringBytes },
      LIMITS.docStringBytes,
      'ModelProto.doc_string',
    );
    this.r.pos += f.length - LIMITS.docStringBytes;
    return `${head}…`;
  }

  private topLevelSink(): ConsumerSink {
    const consumers = this.facts.consumers;
    return (input, consumer) => {
      const list = consumers.get(input);
      if (list) list.push(consumer);
      else consumers.set(input, [consumer]);
    };
  }

  private async opset(end: number): Promise<{ domain: string; version: number }> {
    let domain = '';
    let version = 0;
    while (this.r.pos < end) {
      const f = await this.r.next(end);
      if (f.number === 1) domain = await this.str(f, 'OperatorSetIdProto.domain');
      else if (f.number === 2) version = this.varint(f, 'OperatorSetIdProto.version');
      else this.r.skip(f);
    }
    return { domain, version };
  }

  private async graph(end: number, depth: number, sink: ConsumerSink): Promise<void> {
    if (depth > LIMITS.graphDepth) {
      throw limit(`subgraphs are nested more than ${LIMITS.graphDepth} deep`);
    }
    const { r, facts } = this;
    const topLevel = depth === 0;
    while (r.pos < end) {
      const f = await r.next(end);
      switch (f.number) {
        case GRAPH.node:
          await this.node(this.messageEnd(f, 'GraphProto.node'), depth, sink);
          break;
        case GRAPH.name:
          if (topLevel) facts.graphName = await this.str(f, 'GraphProto.name');
          else r.skip(f);
          break;
        case GRAPH.initializer:
          // Subgraph initializers are local to their branch; only the main graph's are listed.
          if (topLevel) await this.initializer(f);
          else r.skip(f);
          break;
        case GRAPH.input:
          if (topLevel) facts.graphInputs++;
          r.skip(f);
          break;
        case GRAPH.output:
          if (topLevel) facts.graphOutputs++;
          r.skip(f);
          break;
        case GRAPH.sparseInitializer:
          if (topLevel) facts.sparseInitializers++;
          r.skip(f);
          break;
        default:
          r.skip(f);
      }
    }
  }

  private async initializer(f: Field): Promise<void> {
    if (this.facts.initializers.length >= LIMITS.initializers) {
      throw limit(`the graph has over ${LIMITS.initializers} initializers`);
    }
    const end = this.messageEnd(f, 'GraphProto.initializer');
    this.facts.initializers.push(await walkTensor(this.r, end));
  }

  private async node(end: number, depth: number, sink: ConsumerSink): Promise<void> {
    const { r, facts } = this;
    const inputs: string[] = [];
    let name = '';
    let op = '';
    let scopes: string | undefined;
    let namespace: string | undefined;
    // Subgraph consumers are reported after this node's own inputs, whatever the field order.
    const nested: [string, TensorConsumer][] = [];
    const nestedSink: ConsumerSink = (input, consumer) => nested.push([input, consumer]);
    while (r.pos < end) {
      const f = await r.next(end);
      switch (f.number) {
        case NODE.input:
          if (++this.nodeInputs > LIMITS.nodeInputs) {
            throw limit(`the nodes have over ${LIMITS.nodeInputs} inputs in all`);
          }
          inputs.push(await this.str(f, 'NodeProto.input'));
          break;
        case NODE.name:
          name = await this.str(f, 'NodeProto.name');
          break;
        case NODE.opType:
          op = await this.str(f, 'NodeProto.op_type');
          break;
        case NODE.attribute:
          await this.attribute(this.messageEnd(f, 'NodeProto.attribute'), depth, nestedSink);
          break;
        case NODE.metadataProps: {
          const entry = await this.scopeEntry(this.messageEnd(f, 'NodeProto.metadata_props'));
          if (entry?.[0] === NAME_SCOPES_KEY) scopes = entry[1];
          else if (entry?.[0] === NAMESPACE_KEY) namespace = entry[1];
          break;
        }
        default:
          r.skip(f);
      }
    }
    if (facts.nodes + facts.subgraphNodes >= LIMITS.nodes) {
      throw limit(`the model has over ${LIMITS.nodes} nodes`);
    }
    if (depth === 0) facts.nodes++;
    else facts.subgraphNodes++;
    facts.opTypes.set(op, (facts.opTypes.get(op) ?? 0) + 1);
    const scope = moduleScope(scopes, namespace);
    const consumer: TensorConsumer = scope ? { op, node: name, scope } : { op, node: name };
    // '' marks an omitted optional input; a name read twice by one node is one consumer.
    for (const input of new Set(inputs)) if (input !== '') sink(input, consumer);
    for (const [input, c] of nested) sink(input, c);
  }

  /**
   * One NodeProto.metadata_props entry, when it is one of the exporter's scope keys: other keys
   * (stack traces and the like) and values over {@link SCOPE_VALUE_BYTES} are skipped unread.
   */
  private async scopeEntry(end: number): Promise<[string, string] | null> {
    const r = this.r;
    let key: string | null = null;
    let value: string | null = null;
    while (r.pos < end) {
      const f = await r.next(end);
      if (f.number === 1 && f.length <= SCOPE_VALUE_BYTES) {
        key = await this.str(f, 'StringStringEntryProto.key');
      } else if (
        f.number === 2 &&
        f.length <= SCOPE_VALUE_BYTES &&
        (key === NAME_SCOPES_KEY || key === NAMESPACE_KEY)
      ) {
        value = await this.str(f, 'StringStringEntryProto.value');
      } else {
        r.skip(f);
      }
    }
    return key !== null && value !== null ? [key, value] : null;
  }

  /** Only graph-valued attributes matter: their nodes may read the main graph's initializers. */
  private async attribute(end: number, depth: number, sink: ConsumerSink): Promise<void> {
    const r = this.r;
    while (r.pos < end) {
      const f = await r.next(end);
      if (f.number === ATTRIBUTE.g || f.number === ATTRIBUTE.graphs) {
        await this.graph(this.messageEnd(f, 'AttributeProto graph'), depth + 1, sink);
      } else {
        r.skip(f);
      }
    }
  }
}
