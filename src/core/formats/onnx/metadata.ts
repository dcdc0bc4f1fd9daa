import type { ModelFacts } from './walkModel.js';

/** Model facts as string key/values: `onnx.*` for the ModelProto, `onnx.meta.*` for metadata_props. */
export function modelMetadata(facts: ModelFacts): Record<string, string> {
  const metadata = Object.create(null) as Record<string, string>;
  const set = (key: string, value: string | number | undefined) => {
    if (value === undefined || value === '') return;
    // defineProperty keeps a key such as "onnx.meta.__proto__" an ordinary entry.
    Object.defineProperty(metadata, key, {
      value: String(value),
      enumerable: true,
      writable: false,
      configurable: true,
    });
  };
  set('onnx.ir_version', facts.irVersion);
  set(
    'onnx.opset_import',
    facts.opsets.map((o) => `${o.domain === '' ? 'ai.onnx' : o.domain}=${o.version}`).join(', '),
  );
  set('onnx.producer_name', facts.producerName);
  set('onnx.producer_version', facts.producerVersion);
  set('onnx.domain', facts.domain);
  if (facts.modelVersion) set('onnx.model_version', facts.modelVersion);
  set('onnx.doc_string', facts.docString);
  set('onnx.graph.name', facts.graphName);
  set('onnx.graph.nodes', facts.nodes);
  if (facts.subgraphNodes > 0) set('onnx.graph.subgraph_nodes', facts.subgraphNodes);
  set('onnx.graph.inputs', facts.graphInputs);
  set('onnx.graph.outputs', facts.graphOutputs);
  set('onnx.graph.initializers', facts.initializers.length);
  if (facts.sparseInitializers > 0) set('onnx.graph.sparse_initializers', facts.sparseInitializers);
  if (facts.functions > 0) set('onnx.functions', facts.functions);
  const ops = [...facts.opTypes.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  set('onnx.graph.op_types', ops.map(([op, n]) => `${op}=${n}`).join(', '));
  for (const [key, value] of facts.metadataProps) set(`onnx.meta.${key}`, value);
  return metadata;
}
