using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace SegmentAnything.Checkpoints;

/// <summary>
/// Writes a state dict as <c>torch.save</c> does (zip with <c>archive/data.pkl</c>, one stored record per
/// tensor under <c>archive/data/</c>, <c>version</c> and <c>byteorder</c>), so synthetic full-size checkpoints
/// can exercise the same loader as downloaded <c>.pth</c> files. Payloads are produced one tensor at a time.
/// </summary>
internal static class TorchZipWriter
{
    public static void Write(string path, IReadOnlyList<(string Name, DType DType, int[] Shape)> entries, Action<int, Stream> writeData)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Writing checkpoints needs a little-endian host.");
        string tmp = path + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            using (var zip = new ZipArchive(fs, ZipArchiveMode.Create))
            {
                AddBytes(zip, "archive/data.pkl", Pickle(entries));
                AddBytes(zip, "archive/byteorder", "little"u8.ToArray());
                for (int i = 0; i < entries.Count; i++)
                {
                    using var s = zip.CreateEntry($"archive/data/{i}", CompressionLevel.NoCompression).Open();
                    writeData(i, s);
                }
                AddBytes(zip, "archive/version", "3\n"u8.ToArray());
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
    }

    private static void AddBytes(ZipArchive zip, string name, byte[] bytes)
    {
        using var s = zip.CreateEntry(name, CompressionLevel.NoCompression).Open();
        s.Write(bytes);
    }

    /// <summary>An OrderedDict of <c>_rebuild_tensor_v2(storage, 0, shape, stride, False, OrderedDict())</c>, protocol 2.</summary>
    private static byte[] Pickle(IReadOnlyList<(string Name, DType DType, int[] Shape)> entries)
    {
        var p = new MemoryStream();
        p.Write([0x80, 2]);
        Global(p, "collections", "OrderedDict"); p.WriteByte((byte)')'); p.WriteByte((byte)'R');
        p.WriteByte((byte)'(');
        for (int i = 0; i < entries.Count; i++)
        {
            var (name, dtype, shape) = entries[i];
            Str(p, name);
            Global(p, "torch._utils", "_rebuild_tensor_v2");
            p.WriteByte((byte)'(');
            p.WriteByte((byte)'(');
            Str(p, "storage"); Global(p, "torch", StorageName(dtype)); Str(p, i.ToString(System.Globalization.CultureInfo.InvariantCulture)); Str(p, "cpu");
            Int(p, SegmentAnything.Tensors.Tensor.CheckedLength(shape));
            p.WriteByte((byte)'t');
            p.WriteByte((byte)'Q');
            Int(p, 0);
            var strides = new long[shape.Length];
            long s = 1;
            for (int d = shape.Length - 1; d >= 0; d--) { strides[d] = s; s *= shape[d]; }
            p.WriteByte((byte)'('); foreach (int d in shape) Int(p, d); p.WriteByte((byte)'t');
            p.WriteByte((byte)'('); foreach (long d in strides) Int(p, d); p.WriteByte((byte)'t');
            p.WriteByte(0x89);
            Global(p, "collections", "OrderedDict"); p.WriteByte((byte)')'); p.WriteByte((byte)'R');
            p.WriteByte((byte)'t');
            p.WriteByte((byte)'R');
        }
        p.WriteByte((byte)'u');
        p.WriteByte((byte)'.');
        return p.ToArray();
    }

    private static void Global(Stream s, string module, string name) { s.WriteByte((byte)'c'); s.Write(Encoding.ASCII.GetBytes($"{module}\n{name}\n")); }

    private static void Str(Stream s, string v)
    {
        byte[] b = Encoding.UTF8.GetBytes(v);
        Span<byte> len = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(len, (uint)b.Length);
        s.WriteByte((byte)'X'); s.Write(len); s.Write(b);
    }

    private static void Int(Stream s, long v)
    {
        Span<byte> b = stackalloc byte[8];
        if (v is >= 0 and < 256) { s.WriteByte((byte)'K'); s.WriteByte((byte)v); return; }
        if (v is >= int.MinValue and <= int.MaxValue) { BinaryPrimitives.WriteInt32LittleEndian(b, (int)v); s.WriteByte((byte)'J'); s.Write(b[..4]); return; }
        BinaryPrimitives.WriteInt64LittleEndian(b, v);
        s.WriteByte(0x8a); s.WriteByte(8); s.Write(b);
    }

    private static string StorageName(DType t) => t switch
    {
        DType.Float32 => "FloatStorage", DType.Float16 => "HalfStorage", DType.BFloat16 => "BFloat16Storage",
        DType.Float64 => "DoubleStorage", DType.Int64 => "LongStorage", DType.Int32 => "IntStorage",
        DType.Int16 => "ShortStorage", DType.Int8 => "CharStorage", DType.UInt8 => "ByteStorage", _ => "BoolStorage",
    };
}
