using System.Buffers;
using System.Runtime.InteropServices;
using SegmentAnything.Tensors;

namespace SegmentAnything.Checkpoints;

/// <summary>
/// Where a lazy <see cref="CheckpointTensor"/> gets its values: a row-major little-endian payload of
/// <see cref="StoredDType"/> elements that is read only when asked for, into a buffer the caller chooses.
/// </summary>
internal abstract class TensorSource
{
    public DType StoredDType { get; }
    public int[] Shape { get; }
    public int Count { get; }

    protected TensorSource(DType storedDType, int[] shape)
    {
        StoredDType = storedDType;
        Shape = shape;
        Count = Tensor.CheckedLength(shape);
    }

    public long ByteLength => (long)Count * StoredDType.Size();

    /// <summary>Reads the whole stored payload (exactly <see cref="ByteLength"/> bytes).</summary>
    public abstract void ReadBytes(Span<byte> destination);

    /// <summary>The values widened to float32 (and kept exactly as integers for integer dtypes).</summary>
    public virtual (float[] Floats, long[]? Integers) Decode()
    {
        // Every element is written below (or we throw), so gigabytes need not be zeroed first.
        var floats = GC.AllocateUninitializedArray<float>(Count);
        long[]? ints = StoredDType.IsFloating() ? null : new long[Count];
        DecodeInto(floats, ints);
        return (floats, ints);
    }

    /// <summary>The float32 values written into <paramref name="destination"/> (exactly <see cref="Count"/> long).</summary>
    public virtual void DecodeFloats(Span<float> destination) =>
        DecodeInto(destination, StoredDType.IsFloating() ? null : new long[Count]);

    private void DecodeInto(Span<float> floats, long[]? ints)
    {
        if (StoredDType == DType.Float32 && BitConverter.IsLittleEndian)
        {
            // float32 on disk is already the in-memory form: read straight into the destination.
            ReadBytes(MemoryMarshal.AsBytes(floats));
            return;
        }
        int bytes = checked((int)ByteLength);
        byte[] raw = ArrayPool<byte>.Shared.Rent(Math.Max(bytes, 1));
        try
        {
            ReadBytes(raw.AsSpan(0, bytes));
            CheckpointTensor.DecodeContiguous(raw.AsSpan(0, bytes), StoredDType, floats, ints);
        }
        finally { ArrayPool<byte>.Shared.Return(raw); }
    }
}

/// <summary>A contiguous byte range of a file, read with positional reads (no mapping, no whole-file buffer).</summary>
internal sealed class FileRangeSource : TensorSource
{
    private readonly string _path;
    private readonly long _offset;

    public FileRangeSource(string path, long offset, DType dtype, int[] shape) : base(dtype, shape)
    {
        _path = path;
        _offset = offset;
    }

    public override void ReadBytes(Span<byte> destination)
    {
        if (destination.Length != ByteLength) throw new ArgumentException("Destination does not match the tensor's size.");
        try
        {
            using var handle = File.OpenHandle(_path, FileMode.Open, FileAccess.Read, FileShare.Read);
            long at = _offset;
            while (!destination.IsEmpty)
            {
                int n = RandomAccess.Read(handle, destination, at);
                if (n <= 0) throw new CheckpointException($"{_path}: file ended at byte {at} while reading a tensor of {ByteLength} bytes at {_offset} (was it changed since it was opened?).");
                destination = destination[n..];
                at += n;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException($"Cannot read checkpoint '{_path}': {e.Message}", e);
        }
    }
}
