using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
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
        var header = new Dictionary<string, object>(StringComparer.Ordinal) { ["__metadata__"] = metadata };
        long offset = 0;
        foreach (var (name, dtype, shape, data) in _tensors)
        {
            header[name] = new Dictionary<string, object> { ["dtype"] = dtype.SafetensorsName(), ["shape"] = shape, ["data_offsets"] = new[] { offset, offset + data.Length } };
            offset += data.Length;
        }
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(header);
        int pad = (8 - json.Length % 8) % 8;
        string tmp = path + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write))
            {
                Span<byte> len = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)(json.Length + pad));
                fs.Write(len);
                fs.Write(json);
                for (int i = 0; i < pad; i++) fs.WriteByte((byte)' ');
                foreach (var t in _tensors) fs.Write(t.Data);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
    }
}
