using System.Buffers.Binary;
using SegmentAnything.Tensors;

namespace SegmentAnything.Checkpoints;

/// <summary>
/// A tensor as stored in a checkpoint: its original dtype, shape and values. Floating values are
/// widened to float32 (<see cref="Floats"/>); integer and bool values are kept exactly in
/// <see cref="Integers"/> as well as widened into <see cref="Floats"/>.
/// </summary>
public sealed class CheckpointTensor
{
    public DType DType { get; }
    public int[] Shape { get; }
    public float[] Floats { get; }
    public long[]? Integers { get; }

    public CheckpointTensor(DType dtype, int[] shape, float[] floats, long[]? integers = null)
    {
        DType = dtype;
        Shape = shape;
        Floats = floats;
        Integers = integers;
    }

    public long ElementCount => Floats.Length;

    public Tensor ToTensor() => new(Floats, Shape);

    public static CheckpointTensor FromFloats(float[] data, params int[] shape) => new(DType.Float32, shape, data);

    public static CheckpointTensor FromInt64(long[] data, params int[] shape)
    {
        var f = new float[data.Length];
        for (int i = 0; i < data.Length; i++) f[i] = data[i];
        return new(DType.Int64, shape, f, data);
    }

    public static CheckpointTensor FromBytes(byte[] data, params int[] shape)
    {
        var f = new float[data.Length];
        var l = new long[data.Length];
        for (int i = 0; i < data.Length; i++) { f[i] = data[i]; l[i] = data[i]; }
        return new(DType.UInt8, shape, f, l);
    }

    /// <summary>
    /// Decodes <paramref name="count"/> little-endian elements of <paramref name="dtype"/> from
    /// <paramref name="src"/>, gathering with <paramref name="strides"/> (in elements) from
    /// <paramref name="offset"/>. The caller has checked that every index lies inside src.
    /// </summary>
    internal static CheckpointTensor Decode(ReadOnlySpan<byte> src, DType dtype, int[] shape, long[] strides, long offset)
    {
        int count = Tensor.CheckedLength(shape);
        var floats = new float[count];
        long[]? ints = dtype.IsFloating() ? null : new long[count];
        int size = dtype.Size();
        int rank = shape.Length;
        Span<int> index = stackalloc int[Math.Max(rank, 1)];
        index.Clear();
        bool contiguous = IsContiguous(shape, strides);
        for (int i = 0; i < count; i++)
        {
            long element;
            if (contiguous) element = offset + i;
            else
            {
                element = offset;
                for (int d = 0; d < rank; d++) element += index[d] * strides[d];
                for (int d = rank - 1; d >= 0; d--)
                {
                    if (++index[d] < shape[d]) break;
                    index[d] = 0;
                }
            }
            ReadOnlySpan<byte> b = src.Slice((int)(element * size), size);
            switch (dtype)
            {
                case DType.Float32: floats[i] = BinaryPrimitives.ReadSingleLittleEndian(b); break;
                case DType.Float16: floats[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(b); break;
                case DType.BFloat16: floats[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(b) << 16); break;
                case DType.Float64: floats[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(b); break;
                case DType.Int64: ints![i] = BinaryPrimitives.ReadInt64LittleEndian(b); break;
                case DType.Int32: ints![i] = BinaryPrimitives.ReadInt32LittleEndian(b); break;
                case DType.Int16: ints![i] = BinaryPrimitives.ReadInt16LittleEndian(b); break;
                case DType.Int8: ints![i] = (sbyte)b[0]; break;
                case DType.UInt8: ints![i] = b[0]; break;
                case DType.Bool: ints![i] = b[0] != 0 ? 1 : 0; break;
            }
            if (ints is not null) floats[i] = ints[i];
        }
        return new CheckpointTensor(dtype, shape, floats, ints);
    }

    private static bool IsContiguous(int[] shape, long[] strides)
    {
        long expected = 1;
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            if (shape[d] != 1 && strides[d] != expected) return false;
            expected *= shape[d];
        }
        return true;
    }
}
