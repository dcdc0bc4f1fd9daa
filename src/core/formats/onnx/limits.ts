/**
 * Bounds on what a model may make the reader hold. Real exports stay far below them (a 70B decoder
 * has ~5,000 nodes and ~700 initializers); a hostile file hits them instead of exhausting memory.
 */
export const LIMITS = {
  /** If/Loop/Scan subgraphs inside subgraphs. */
  graphDepth: 32,
  /** Nodes in the graph and all its subgraphs. */
  nodes: 2_000_000,
  /** Node input references, all nodes together. */
  nodeInputs: 20_000_000,
  initializers: 1_000_000,
  dims: 64,
  /** Entries of one tensor's external_data. */
  externalEntries: 64,
  /** Model-level metadata_props and opset_import entries. */
  modelEntries: 100_000,
  /** Names, op types, keys and values. */
  stringBytes: 1024 * 1024,
  /** The model doc_string is shown, not parsed: longer ones are cut. */
  docStringBytes: 4096,
  /** Decoded typed-field data (float_data, int32_data, …) of one tensor. */
  typedDataBytes: 256 * 1024 * 1024,
} as const;
