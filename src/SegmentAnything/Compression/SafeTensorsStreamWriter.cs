using System.Runtime.InteropServices;
using SegmentAnything.Checkpoints;

namespace SegmentAnything.Compression;

/// <summary>Writes a safetensors file from raw little-endian payloads (int8 and half tensors without widening them first).</summary>
internal sealed class SafeTensorsStreamWriter
{
    private readonly List<(string Name, DType DType, int[] Shape, byte[] Data)> _tensors = [];

    public long DataBytes { get; private set; }

    public void Add(string name, DType dtype, int[] shape, byte[] data)
    {
        _tensors.Add((name, dtype, shape, data));
        DataBytes += data.Length;
    }

    public void AddFloat32(string name, int[] shape, float[] values) => Add(name, DType.Float32, shape, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());

    public void Write(string path, IReadOnlyDictionary<string, string> metadata)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Writing safetensors needs a little-endian host.");
        SafeTensors.WriteRaw(path, _tensors, metadata);
    }
}
