using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace SegmentAnything.Checkpoints;

/// <summary>A safetensors file: named tensors plus string metadata.</summary>
public sealed class SafeTensorsFile
{
    public Dictionary<string, CheckpointTensor> Tensors { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, string> Metadata { get; } = new(StringComparer.Ordinal);

    public CheckpointTensor this[string name] =>
        Tensors.TryGetValue(name, out var t) ? t : throw new CheckpointException($"Tensor '{name}' not found in safetensors file.");
}

/// <summary>Reads and writes the safetensors format (8-byte header length, JSON header, raw little-endian data).</summary>
public static class SafeTensors
{
    private const long MaxHeaderBytes = 100 * 1024 * 1024;

    public static SafeTensorsFile Read(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException($"Cannot read safetensors file '{path}': {e.Message}", e);
        }
        return Read(bytes, path);
    }

    public static SafeTensorsFile Read(byte[] bytes, string where = "safetensors")
    {
        if (bytes.Length < 8) throw new CheckpointException($"{where}: file of {bytes.Length} bytes is too short for a safetensors header.");
        ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLen > MaxHeaderBytes || headerLen > (ulong)(bytes.Length - 8))
            throw new CheckpointException($"{where}: header claims {headerLen} bytes but the file has {bytes.Length - 8} after the length field.");
        int dataStart = 8 + (int)headerLen;
        long dataLen = bytes.Length - dataStart;
        var file = new SafeTensorsFile();
        JsonDocument doc;
        try { doc = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLen), new JsonDocumentOptions { MaxDepth = 8 }); }
        catch (JsonException e) { throw new CheckpointException($"{where}: header is not valid JSON: {e.Message}", e); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new CheckpointException($"{where}: header is not a JSON object.");
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object) throw new CheckpointException($"{where}: __metadata__ is not an object.");
                    foreach (var m in prop.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String) throw new CheckpointException($"{where}: metadata '{m.Name}' is not a string.");
                        file.Metadata[m.Name] = m.Value.GetString()!;
                    }
                    continue;
                }
                file.Tensors[prop.Name] = ReadEntry(prop, bytes, dataStart, dataLen, where);
            }
        }
        return file;
    }

    private static CheckpointTensor ReadEntry(JsonProperty prop, byte[] bytes, int dataStart, long dataLen, string where)
    {
        string at = $"{where}: tensor '{prop.Name}'";
        var v = prop.Value;
        if (v.ValueKind != JsonValueKind.Object
            || !v.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String
            || !v.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array
            || !v.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw new CheckpointException($"{at}: entry needs dtype, shape and data_offsets [begin, end].");
        DType dtype = DTypeInfo.FromSafetensorsName(dt.GetString()!) ?? throw new CheckpointException($"{at}: unsupported dtype '{dt.GetString()}'.");
        if (sh.GetArrayLength() > 16) throw new CheckpointException($"{at}: rank {sh.GetArrayLength()} is too large.");
        var shape = new int[sh.GetArrayLength()];
        long count = 1;
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim) || dim < 0 || dim > int.MaxValue)
                throw new CheckpointException($"{at}: invalid dimension {d} in shape.");
            shape[i++] = (int)dim;
            count *= dim;
            if (count > Array.MaxLength) throw new CheckpointException($"{at}: shape has too many elements.");
        }
        if (!off[0].TryGetInt64(out long begin) || !off[1].TryGetInt64(out long end) || begin < 0 || end < begin || end > dataLen)
            throw new CheckpointException($"{at}: data_offsets [{off[0]}, {off[1]}] lie outside the {dataLen} data bytes.");
        if (end - begin != count * dtype.Size())
            throw new CheckpointException($"{at}: {end - begin} data bytes do not match shape [{string.Join(", ", shape)}] of {dtype}.");
        var strides = new long[shape.Length];
        long s = 1;
        for (int d = shape.Length - 1; d >= 0; d--) { strides[d] = s; s *= shape[d]; }
        return CheckpointTensor.Decode(bytes.AsSpan(dataStart + (int)begin, (int)(end - begin)), dtype, shape, strides, 0);
    }

    /// <summary>Writes tensors (float32 as F32, integers in their own dtype) and metadata, atomically.</summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, CheckpointTensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null) =>
        WriteRaw(path, tensors.Select(kv => (kv.Key, kv.Value.DType, kv.Value.Shape, Encode(kv.Value))), metadata);

    /// <summary>
    /// Writes already encoded little-endian payloads (so int8 and half tensors need no widening), via a
    /// temporary file renamed into place: a reader never sees a half-written file.
    /// </summary>
    internal static void WriteRaw(string path, IEnumerable<(string Name, DType DType, int[] Shape, byte[] Data)> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var list = tensors.ToList();
        var header = new Dictionary<string, object>(StringComparer.Ordinal);
        if (metadata is { Count: > 0 }) header["__metadata__"] = metadata;
        long offset = 0;
        foreach (var (name, dtype, shape, data) in list)
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
                foreach (var t in list) fs.Write(t.Data);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
    }

    private static byte[] Encode(CheckpointTensor t)
    {
        int size = t.DType.Size();
        var buf = new byte[t.ElementCount * size];
        for (int i = 0; i < t.ElementCount; i++)
        {
            Span<byte> b = buf.AsSpan(i * size, size);
            long iv = t.Integers is null ? 0 : t.Integers[i];
            switch (t.DType)
            {
                case DType.Float32: BinaryPrimitives.WriteSingleLittleEndian(b, t.Floats[i]); break;
                case DType.Float16: BinaryPrimitives.WriteHalfLittleEndian(b, (Half)t.Floats[i]); break;
                case DType.BFloat16: BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)(BitConverter.SingleToUInt32Bits(t.Floats[i]) >> 16)); break;
                case DType.Float64: BinaryPrimitives.WriteDoubleLittleEndian(b, t.Floats[i]); break;
                case DType.Int64: BinaryPrimitives.WriteInt64LittleEndian(b, iv); break;
                case DType.Int32: BinaryPrimitives.WriteInt32LittleEndian(b, (int)iv); break;
                case DType.Int16: BinaryPrimitives.WriteInt16LittleEndian(b, (short)iv); break;
                default: b[0] = (byte)iv; break;
            }
        }
        return buf;
    }
}
