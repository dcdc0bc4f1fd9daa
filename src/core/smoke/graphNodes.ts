/** The onnx-proto building blocks every smoke graph is made of. */
import { onnx } from 'onnx-proto';

export const FLOAT = onnx.TensorProto.DataType.FLOAT;
export const INT64 = onnx.TensorProto.DataType.INT64;

type Dim = number | string;

export function valueInfo(
  name: string,
  elemType: number,
  dims: readonly Dim[],
): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: {
          dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
        },
      },
    },
  };
}

type Attr = number | readonly number[];

export function node(
  opType: string,
  inputs: readonly string[],
  output: string,
  attrs: Readonly<Record<string, Attr>> = {},
): onnx.INodeProto {
  const attribute: onnx.IAttributeProto[] = Object.entries(attrs).map(([name, v]) =>
    typeof v === 'number'
      ? { name, type: onnx.AttributeProto.AttributeType.INT, i: v }
      : { name, type: onnx.AttributeProto.AttributeType.INTS, ints: [...v] },
  );
  return { opType, input: [...inputs], output: [output], name: `${opType}_${output}`, attribute };
}

export interface GraphParts {
  readonly inputs: onnx.IValueInfoProto[];
  readonly outputs: onnx.IValueInfoProto[];
  readonly nodes: onnx.INodeProto[];
}
