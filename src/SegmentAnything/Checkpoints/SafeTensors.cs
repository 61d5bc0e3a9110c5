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

    /// <summary>Reads every tensor into memory, one positional read per tensor (no whole-file buffer, any file size).</summary>
    public static SafeTensorsFile Read(string path)
    {
        var file = Open(path);
        foreach (var t in file.Tensors.Values) _ = t.Floats;
        return file;
    }

    /// <summary>
    /// Reads the header only; each tensor's values stay in the file until first used (positional reads of
    /// exactly its bytes), so opening a multi-gigabyte checkpoint costs its header, not its size. The file
    /// must stay in place while its tensors are used.
    /// </summary>
    public static SafeTensorsFile Open(string path)
    {
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
            long fileLength = fs.Length;
            if (fileLength < 8) throw new CheckpointException($"{path}: file of {fileLength} bytes is too short for a safetensors header.");
            Span<byte> len = stackalloc byte[8];
            fs.ReadExactly(len);
            ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(len);
            if (headerLen > MaxHeaderBytes || headerLen > (ulong)(fileLength - 8))
                throw new CheckpointException($"{path}: header claims {headerLen} bytes but the file has {fileLength - 8} after the length field.");
            var header = new byte[(int)headerLen];
            fs.ReadExactly(header);
            long dataStart = 8 + (long)headerLen;
            return Parse(header, fileLength - dataStart, path,
                (dtype, shape, begin, _) => new CheckpointTensor(dtype, shape, new FileRangeSource(path, dataStart + begin, dtype, shape)));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException($"Cannot read safetensors file '{path}': {e.Message}", e);
        }
    }

    public static SafeTensorsFile Read(byte[] bytes, string where = "safetensors")
    {
        if (bytes.Length < 8) throw new CheckpointException($"{where}: file of {bytes.Length} bytes is too short for a safetensors header.");
        ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLen > MaxHeaderBytes || headerLen > (ulong)(bytes.Length - 8))
            throw new CheckpointException($"{where}: header claims {headerLen} bytes but the file has {bytes.Length - 8} after the length field.");
        int dataStart = 8 + (int)headerLen;
        return Parse(bytes.AsMemory(8, (int)headerLen), bytes.Length - dataStart, where, (dtype, shape, begin, end) =>
        {
            var strides = new long[shape.Length];
            long s = 1;
            for (int d = shape.Length - 1; d >= 0; d--) { strides[d] = s; s *= shape[d]; }
            return CheckpointTensor.Decode(bytes.AsSpan(dataStart + (int)begin, (int)(end - begin)), dtype, shape, strides, 0);
        });
    }

    private delegate CheckpointTensor TensorFactory(DType dtype, int[] shape, long begin, long end);

    private static SafeTensorsFile Parse(ReadOnlyMemory<byte> header, long dataLen, string where, TensorFactory make)
    {
        var file = new SafeTensorsFile();
        JsonDocument doc;
        try { doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 8 }); }
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
                file.Tensors[prop.Name] = ReadEntry(prop, dataLen, where, make);
            }
        }
        return file;
    }

    private static CheckpointTensor ReadEntry(JsonProperty prop, long dataLen, string where, TensorFactory make)
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
        return make(dtype, shape, begin, end);
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
        WriteStreamed(path, list.Select(t => (t.Name, t.DType, t.Shape)).ToList(), (i, s) => s.Write(list[i].Data), metadata);
    }

    /// <summary>
    /// Writes tensors whose payloads are produced one at a time by <paramref name="writeData"/> (called in
    /// order with the tensor's index; it must write exactly shape x dtype-size bytes), so a file of any size is
    /// written with the memory of one tensor. Atomic like <see cref="WriteRaw"/>.
    /// </summary>
    internal static void WriteStreamed(string path, IReadOnlyList<(string Name, DType DType, int[] Shape)> entries, Action<int, Stream> writeData, IReadOnlyDictionary<string, string>? metadata)
    {
        var header = new Dictionary<string, object>(StringComparer.Ordinal);
        if (metadata is { Count: > 0 }) header["__metadata__"] = metadata;
        long offset = 0;
        var ends = new long[entries.Count];
        for (int i = 0; i < entries.Count; i++)
        {
            var (name, dtype, shape) = entries[i];
            long bytes = SegmentAnything.Tensors.Tensor.CheckedLength(shape) * (long)dtype.Size();
            header[name] = new Dictionary<string, object> { ["dtype"] = dtype.SafetensorsName(), ["shape"] = shape, ["data_offsets"] = new[] { offset, offset + bytes } };
            offset += bytes;
            ends[i] = offset;
        }
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(header);
        int pad = (8 - json.Length % 8) % 8;
        string tmp = path + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Span<byte> len = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)(json.Length + pad));
                fs.Write(len);
                fs.Write(json);
                for (int i = 0; i < pad; i++) fs.WriteByte((byte)' ');
                long dataStart = fs.Position;
                for (int i = 0; i < entries.Count; i++)
                {
                    writeData(i, fs);
                    if (fs.Position - dataStart != ends[i])
                        throw new InvalidOperationException($"Tensor '{entries[i].Name}' wrote {fs.Position - dataStart - (i == 0 ? 0 : ends[i - 1])} bytes, not the {ends[i] - (i == 0 ? 0 : ends[i - 1])} its shape needs.");
                }
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
