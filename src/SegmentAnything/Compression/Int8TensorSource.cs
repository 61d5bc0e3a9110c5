using System.Buffers;
using System.Numerics;
using System.Runtime.InteropServices;
using SegmentAnything.Checkpoints;
using SegmentAnything.Kernels;

namespace SegmentAnything.Compression;

/// <summary>
/// An int8 weight <c>NAME</c> of a compressed checkpoint with its per-output-channel scales <c>NAME_scale</c>,
/// seen as the float32 tensor <c>q · scale</c>. The int8 bytes are read straight from the file: into a
/// float destination (dequantised there, never widened through int64), or, for layers that run the dynamic
/// int8 kernels, into the packed int8 matrix itself.
/// </summary>
internal sealed class Int8TensorSource : TensorSource
{
    private readonly string _name;
    private readonly string _where;
    private readonly TensorSource _values;
    private readonly CheckpointTensor _scales;
    private float[]? _checkedScales;

    public Int8TensorSource(string name, TensorSource values, CheckpointTensor scales, string where) : base(DType.Float32, values.Shape)
    {
        if (values.StoredDType != DType.Int8) throw new ArgumentException("Int8 source over a non-int8 payload.");
        if (Shape.Length < 1 || Shape[0] == 0 || scales.DType != DType.Float32 || scales.Shape.Length != 1 || scales.Shape[0] != Shape[0])
            throw new CheckpointException($"{where}: scale of int8 tensor '{name}' must be float32 [{(Shape.Length > 0 ? Shape[0] : 0)}], found {scales.DType} [{string.Join(", ", scales.Shape)}].");
        (_name, _where, _values, _scales) = (name, where, values, scales);
    }

    private int Rows => Shape[0];
    private int RowLength => Count / Shape[0];

    /// <summary>Whether this weight runs the dynamic W8A8 kernels (image-encoder nn.Linear, dynamic execution on).</summary>
    public bool RunsDynamic(string name) =>
        Int8Linear.Execution == Int8Execution.Dynamic && Shape.Length == 2 && name.StartsWith("image_encoder.", StringComparison.Ordinal);

    public float[] Scales()
    {
        if (_checkedScales is not null) return _checkedScales;
        float[] s = _scales.Floats;
        foreach (float sc in s)
            if (!float.IsFinite(sc) || sc < 0) throw new CheckpointException($"{_where}: int8 tensor '{_name}' has an invalid scale {sc}.");
        return _checkedScales = s;
    }

    /// <summary>The stored int8 values, checked to lie in [-127, 127].</summary>
    public void ReadValues(Span<sbyte> destination)
    {
        _values.ReadBytes(MemoryMarshal.AsBytes(destination));
        if (destination.IndexOf(sbyte.MinValue) >= 0)
            throw new CheckpointException($"{_where}: int8 tensor '{_name}' holds -128; symmetric int8 weights lie in [-127, 127].");
    }

    public override void ReadBytes(Span<byte> destination) => DecodeFloats(MemoryMarshal.Cast<byte, float>(destination));

    public override (float[] Floats, long[]? Integers) Decode()
    {
        // Image-encoder matrices keep their int8 form beside the floats (Int8Linear.Attach), for callers that
        // build Linear from the float array rather than through WeightBinder.TakeLinear.
        bool attach = Shape.Length == 2 && _name.StartsWith("image_encoder.", StringComparison.Ordinal);
        var floats = GC.AllocateUninitializedArray<float>(Count);
        if (!attach)
        {
            DecodeFloats(floats);
            return (floats, null);
        }
        var values = new sbyte[Count];
        ReadValues(values);
        Dequantize(values, Scales(), floats);
        Int8Linear.Attach(floats, values, Scales());
        return (floats, null);
    }

    public override void DecodeFloats(Span<float> destination)
    {
        sbyte[] values = ArrayPool<sbyte>.Shared.Rent(Math.Max(Count, 1));
        try
        {
            ReadValues(values.AsSpan(0, Count));
            Dequantize(values.AsSpan(0, Count), Scales(), destination);
        }
        finally { ArrayPool<sbyte>.Shared.Return(values); }
    }

    /// <summary>A dynamic int8 layer packed from the file's bytes (through one reused buffer).</summary>
    public Linear ToLinear(float[]? bias, int inFeatures, int outFeatures)
    {
        if (Shape.Length != 2 || Shape[0] != outFeatures || Shape[1] != inFeatures) throw new ArgumentException("Int8 weight shape does not match the layer.");
        sbyte[] values = ArrayPool<sbyte>.Shared.Rent(Math.Max(Count, 1));
        try
        {
            ReadValues(values.AsSpan(0, Count));
            return new Linear(new Int8Linear(new Int8Matrix(values.AsSpan(0, Count), Scales(), outFeatures, inFeatures)), bias);
        }
        finally { ArrayPool<sbyte>.Shared.Return(values); }
    }

    private void Dequantize(ReadOnlySpan<sbyte> values, float[] scales, Span<float> destination)
    {
        int k = RowLength;
        for (int r = 0; r < Rows; r++)
            DequantizeRow(values.Slice(r * k, k), scales[r], destination.Slice(r * k, k));
    }

    private static void DequantizeRow(ReadOnlySpan<sbyte> q, float scale, Span<float> dst)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            int w = Vector<sbyte>.Count, w4 = Vector<float>.Count;
            var s = new Vector<float>(scale);
            for (; i <= q.Length - w; i += w)
            {
                Vector.Widen(new Vector<sbyte>(q[i..]), out Vector<short> lo, out Vector<short> hi);
                Vector.Widen(lo, out Vector<int> a, out Vector<int> b);
                Vector.Widen(hi, out Vector<int> c, out Vector<int> d);
                (Vector.ConvertToSingle(a) * s).CopyTo(dst[i..]);
                (Vector.ConvertToSingle(b) * s).CopyTo(dst[(i + w4)..]);
                (Vector.ConvertToSingle(c) * s).CopyTo(dst[(i + 2 * w4)..]);
                (Vector.ConvertToSingle(d) * s).CopyTo(dst[(i + 3 * w4)..]);
            }
        }
        for (; i < q.Length; i++) dst[i] = q[i] * scale;
    }
}

/// <summary>A payload already in memory (an eagerly read tensor), so in-memory and file-backed int8 weights share one path.</summary>
internal sealed class MemorySource(DType dtype, int[] shape, byte[] bytes) : TensorSource(dtype, shape)
{
    public override void ReadBytes(Span<byte> destination) => bytes.AsSpan(0, destination.Length).CopyTo(destination);
}
