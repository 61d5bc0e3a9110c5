using System.Buffers.Binary;
using System.Text.Json;
using SegmentAnything.Checkpoints;
using SegmentAnything.Kernels;

namespace SegmentAnything.Compression;

/// <summary>Storage summary of a compressed checkpoint, for <c>sam info</c>.</summary>
public sealed record CompressionInfo(string Scheme, string? Architecture, string? KeptFloat, long FileBytes, long? SourceBytes,
    IReadOnlyDictionary<string, long> BytesPerDType);

/// <summary>Turns the tensors of a compressed safetensors file back into a float state dict.</summary>
public static class CompressedCheckpoint
{
    /// <summary>
    /// The state dict of a safetensors file. For an int8 file every <c>NAME</c> (I8) with <c>NAME_scale</c>
    /// (F32, one per output channel) becomes float32 <c>q · scale</c>, and 2-D weights keep their int8 form
    /// attached (<see cref="Int8Linear.Attach"/>) for the dynamic int8 kernels
    /// (image encoder only; the decoder runs weight-only). Other files pass through.
    /// </summary>
    public static StateDict ToStateDict(SafeTensorsFile file, string source)
    {
        if (!file.Metadata.TryGetValue(CompressionSchemes.SchemeKey, out var scheme) || scheme != CompressionSchemes.Name(CompressionScheme.Int8))
            return new StateDict(file.Tensors, source);
        var tensors = new Dictionary<string, CheckpointTensor>(StringComparer.Ordinal);
        foreach (var (name, t) in file.Tensors)
        {
            if (name.EndsWith(CompressionSchemes.ScaleSuffix, StringComparison.Ordinal) && file.Tensors.TryGetValue(name[..^CompressionSchemes.ScaleSuffix.Length], out var q) && q.DType == DType.Int8)
                continue;
            tensors[name] = t.DType == DType.Int8 ? Dequantize(name, t, file, source) : t;
        }
        return new StateDict(tensors, source);
    }

    private static CheckpointTensor Dequantize(string name, CheckpointTensor q, SafeTensorsFile file, string source)
    {
        if (!file.Tensors.TryGetValue(name + CompressionSchemes.ScaleSuffix, out var s))
            throw new CheckpointException($"{source}: int8 tensor '{name}' has no scale tensor '{name}{CompressionSchemes.ScaleSuffix}'.");
        // File-backed int8 stays in the file until bound; an in-memory one (read from bytes) is wrapped the same way.
        TensorSource values = q.Source ?? new MemorySource(DType.Int8, q.Shape, Array.ConvertAll(q.Integers!, v => (byte)(sbyte)v));
        return new CheckpointTensor(DType.Float32, q.Shape, new Int8TensorSource(name, values, s, source));
    }

    /// <summary>The scheme recorded in a safetensors file's metadata, or null (not safetensors, or not compressed).</summary>
    public static string? SchemeOf(string path) => Describe(path)?.Scheme;

    /// <summary>Reads only the header of a safetensors file; null when the file is not a compressed safetensors checkpoint.</summary>
    public static CompressionInfo? Describe(string path)
    {
        if (!path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) || !File.Exists(path)) return null;
        using var fs = File.OpenRead(path);
        Span<byte> len = stackalloc byte[8];
        if (fs.Read(len) != 8) return null;
        ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(len);
        if (headerLen > 100 * 1024 * 1024 || headerLen > (ulong)(fs.Length - 8)) return null;
        var header = new byte[headerLen];
        fs.ReadExactly(header);
        try
        {
            using var doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 8 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object) return null;
            var meta = new Dictionary<string, string>();
            var bytes = new SortedDictionary<string, long>(StringComparer.Ordinal);
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (p.Name == "__metadata__")
                {
                    if (p.Value.ValueKind == JsonValueKind.Object)
                        foreach (var m in p.Value.EnumerateObject())
                            if (m.Value.ValueKind == JsonValueKind.String) meta[m.Name] = m.Value.GetString()!;
                    continue;
                }
                if (p.Value.ValueKind != JsonValueKind.Object || !p.Value.TryGetProperty("dtype", out var dt) || !p.Value.TryGetProperty("data_offsets", out var off)
                    || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2) continue;
                string key = dt.GetString() ?? "?";
                bytes[key] = bytes.GetValueOrDefault(key) + (off[1].GetInt64() - off[0].GetInt64());
            }
            if (!meta.TryGetValue(CompressionSchemes.SchemeKey, out var scheme)) return null;
            long? source = meta.TryGetValue(CompressionSchemes.SourceBytesKey, out var sb) && long.TryParse(sb, out var v) ? v : null;
            return new CompressionInfo(scheme, meta.GetValueOrDefault(CompressionSchemes.ArchitectureKey), meta.GetValueOrDefault(CompressionSchemes.KeptFloatKey),
                fs.Length, source, bytes);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException) { return null; }
    }
}
