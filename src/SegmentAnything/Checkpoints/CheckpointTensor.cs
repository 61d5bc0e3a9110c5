using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;
using SegmentAnything.Tensors;

namespace SegmentAnything.Checkpoints;

/// <summary>
/// A tensor as stored in a checkpoint: its original dtype, shape and values. Floating values are
/// widened to float32 (<see cref="Floats"/>); integer and bool values are kept exactly in
/// <see cref="Integers"/> as well as widened into <see cref="Floats"/>. A tensor read from a file may be
/// lazy: its values are read from the file when first asked for, so a loader can turn one weight at a time
/// into its final (packed) form without the whole checkpoint ever sitting in memory.
/// </summary>
public sealed class CheckpointTensor
{
    private float[]? _floats;
    private long[]? _integers;
    private readonly TensorSource? _source;

    public DType DType { get; }
    public int[] Shape { get; }

    /// <summary>The values as float32 (read from the file on first use when the tensor is lazy).</summary>
    public float[] Floats => _floats ?? Materialize().Floats;

    public long[]? Integers => DType.IsFloating() ? null : _integers ?? Materialize().Integers;

    public CheckpointTensor(DType dtype, int[] shape, float[] floats, long[]? integers = null)
    {
        DType = dtype;
        Shape = shape;
        _floats = floats;
        _integers = integers;
    }

    internal CheckpointTensor(DType dtype, int[] shape, TensorSource source)
    {
        DType = dtype;
        Shape = shape;
        _source = source;
    }

    public long ElementCount => _floats?.LongLength ?? Tensor.CheckedLength(Shape);

    /// <summary>Whether the values are still in the file (nothing decoded and kept in memory).</summary>
    public bool IsLazy => _source is not null && _floats is null;

    /// <summary>The raw stored form, for readers that want it without widening (e.g. int8 weights).</summary>
    internal TensorSource? Source => _source;

    public Tensor ToTensor() => new(Floats, Shape);

    /// <summary>
    /// Writes the float32 values into <paramref name="destination"/> (at least <see cref="ElementCount"/> long)
    /// without keeping a copy: a lazy tensor is decoded straight from its file.
    /// </summary>
    public void CopyFloatsTo(Span<float> destination)
    {
        int count = checked((int)ElementCount);
        if (destination.Length < count) throw new ArgumentException("Destination is shorter than the tensor.");
        if (_floats is not null) _floats.AsSpan().CopyTo(destination);
        else if (_source is not null) _source.DecodeFloats(destination[..count]);
    }

    /// <summary>Forgets the values decoded from the file (a lazy tensor reads them again when next asked).</summary>
    public void Release()
    {
        if (_source is null) return;
        _floats = null;
        _integers = null;
    }

    private (float[] Floats, long[]? Integers) Materialize()
    {
        if (_source is null) return (_floats!, _integers);
        var (f, i) = _source.Decode();
        _integers = i;
        _floats = f;
        return (f, i);
    }

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
    /// Decodes the tensor of <paramref name="shape"/> whose little-endian <paramref name="dtype"/> elements
    /// lie in <paramref name="src"/> at element <paramref name="offset"/> with <paramref name="strides"/>
    /// (in elements). Every index is checked against src; a view that does not fit throws.
    /// </summary>
    internal static CheckpointTensor Decode(ReadOnlySpan<byte> src, DType dtype, int[] shape, long[] strides, long offset)
    {
        int count = Tensor.CheckedLength(shape);
        int size = dtype.Size();
        if (strides.Length != shape.Length) throw new CheckpointException($"Tensor of rank {shape.Length} has {strides.Length} strides.");
        string? problem = TensorLimits.CheckView(Array.ConvertAll(shape, d => (long)d), strides, offset, src.Length / size);
        if (problem is not null) throw new CheckpointException($"Tensor {problem}.");
        ReadOnlySpan<byte> packed;
        if (IsContiguous(shape, strides)) packed = count == 0 ? default : src.Slice((int)(offset * size), count * size);
        else
        {
            // Strided (transposed, sliced or expanded) views are gathered into row-major order first, so
            // the dtype conversion below always runs over one contiguous span.
            if ((long)count * size > Array.MaxLength) throw new CheckpointException($"Strided tensor of {count} {dtype} elements is too large.");
            var gathered = new byte[count * size];
            Gather(src, size, shape, strides, offset, gathered);
            packed = gathered;
        }
        var floats = new float[count];
        long[]? ints = dtype.IsFloating() ? null : new long[count];
        DecodeContiguous(packed, dtype, floats, ints);
        return new CheckpointTensor(dtype, shape, floats, ints);
    }

    /// <summary>
    /// Converts <paramref name="packed"/> (row-major little-endian <paramref name="dtype"/> elements) into
    /// <paramref name="floats"/>, and into <paramref name="ints"/> for integer dtypes (null for floating ones).
    /// </summary>
    internal static void DecodeContiguous(ReadOnlySpan<byte> packed, DType dtype, Span<float> floats, long[]? ints)
    {
        int count = floats.Length;
        if (!BitConverter.IsLittleEndian) { DecodeScalar(packed, dtype, floats, ints); return; }
        switch (dtype)
        {
            case DType.Float32: MemoryMarshal.Cast<byte, float>(packed).CopyTo(floats); break;
            case DType.Float16: WidenHalf(MemoryMarshal.Cast<byte, Half>(packed), floats); break;
            case DType.BFloat16: WidenBFloat16(MemoryMarshal.Cast<byte, ushort>(packed), floats); break;
            case DType.Float64: Narrow(MemoryMarshal.Cast<byte, double>(packed), floats); break;
            case DType.Int64: MemoryMarshal.Cast<byte, long>(packed).CopyTo(ints); break;
            case DType.Int32: { var v = MemoryMarshal.Cast<byte, int>(packed); for (int i = 0; i < v.Length; i++) ints![i] = v[i]; break; }
            case DType.Int16: { var v = MemoryMarshal.Cast<byte, short>(packed); for (int i = 0; i < v.Length; i++) ints![i] = v[i]; break; }
            case DType.Int8: { var v = MemoryMarshal.Cast<byte, sbyte>(packed); for (int i = 0; i < v.Length; i++) ints![i] = v[i]; break; }
            case DType.UInt8: for (int i = 0; i < packed.Length; i++) ints![i] = packed[i]; break;
            case DType.Bool: for (int i = 0; i < packed.Length; i++) ints![i] = packed[i] != 0 ? 1 : 0; break;
        }
        if (ints is not null) for (int i = 0; i < count; i++) floats[i] = ints[i];
    }

    private static void Gather(ReadOnlySpan<byte> src, int size, int[] shape, long[] strides, long offset, Span<byte> dst)
    {
        int rank = shape.Length;
        if (rank == 0) { src.Slice((int)(offset * size), size).CopyTo(dst); return; }
        int rowLen = shape[rank - 1];
        long rowStride = strides[rank - 1];
        if (rowLen == 0 || dst.Length == 0) return;
        int rows = dst.Length / size / rowLen;
        Span<int> index = stackalloc int[rank];
        index.Clear();
        int written = 0;
        for (int r = 0; r < rows; r++)
        {
            long start = offset;
            for (int d = 0; d < rank - 1; d++) start += index[d] * strides[d];
            if (rowStride == 1)
            {
                src.Slice((int)(start * size), rowLen * size).CopyTo(dst.Slice(written, rowLen * size));
                written += rowLen * size;
            }
            else
            {
                for (int j = 0; j < rowLen; j++, written += size)
                    src.Slice((int)((start + j * rowStride) * size), size).CopyTo(dst.Slice(written, size));
            }
            for (int d = rank - 2; d >= 0; d--)
            {
                if (++index[d] < shape[d]) break;
                index[d] = 0;
            }
        }
    }

    private static void WidenHalf(ReadOnlySpan<Half> src, Span<float> dst)
    {
        for (int i = 0; i < src.Length; i++) dst[i] = (float)src[i];
    }

    /// <summary>bfloat16 is the top half of a float32: widening is a 16-bit shift, done a vector at a time.</summary>
    private static void WidenBFloat16(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        var bits = MemoryMarshal.Cast<float, uint>(dst);
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            int w = Vector<ushort>.Count;
            for (; i <= src.Length - w; i += w)
            {
                Vector.Widen(new Vector<ushort>(src.Slice(i)), out Vector<uint> lo, out Vector<uint> hi);
                Vector.ShiftLeft(lo, 16).CopyTo(bits.Slice(i));
                Vector.ShiftLeft(hi, 16).CopyTo(bits.Slice(i + w / 2));
            }
        }
        for (; i < src.Length; i++) bits[i] = (uint)src[i] << 16;
    }

    private static void Narrow(ReadOnlySpan<double> src, Span<float> dst)
    {
        for (int i = 0; i < src.Length; i++) dst[i] = (float)src[i];
    }

    /// <summary>Byte-order independent fallback for big-endian hosts.</summary>
    private static void DecodeScalar(ReadOnlySpan<byte> packed, DType dtype, Span<float> floats, long[]? ints)
    {
        int size = dtype.Size();
        for (int i = 0; i < floats.Length; i++)
        {
            ReadOnlySpan<byte> b = packed.Slice(i * size, size);
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
