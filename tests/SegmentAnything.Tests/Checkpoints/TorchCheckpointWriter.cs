using System.Buffers.Binary;
using System.IO.Compression;
using SegmentAnything.Checkpoints;

namespace SegmentAnything.Tests.Checkpoints;

/// <summary>A tensor view for <see cref="TorchCheckpointWriter"/>: storage key, offset, size and stride in elements.</summary>
public sealed record TensorSpec(string StorageKey, long Offset, long[] Shape, long[] Strides, bool AsParameter = false);

/// <summary>
/// Test-only: writes PyTorch-style zip checkpoints (<c>&lt;folder&gt;/data.pkl</c>, <c>data/&lt;key&gt;</c>,
/// <c>version</c>) from a value tree: <see cref="TensorSpec"/>, nested <c>List&lt;(string, object?)&gt;</c> as
/// dicts, long, string, double, bool, null. The pickle follows torch.save's protocol-2 layout
/// (storages memoized on first use and fetched with BINGET afterwards).
/// </summary>
public sealed class TorchCheckpointWriter
{
    private readonly Dictionary<string, (DType DType, long Numel, byte[] Bytes)> _storages = new();
    private readonly Dictionary<string, int> _storageMemo = new();
    private int _memo;

    public string Folder { get; set; } = "archive";
    public bool OrderedDictRoot { get; set; }
    public CompressionLevel Compression { get; set; } = CompressionLevel.NoCompression;
    /// <summary>Overrides a storage's numel as written in the pickle (to test lying headers).</summary>
    public Dictionary<string, long> ClaimedNumel { get; } = new();

    public TorchCheckpointWriter Storage(string key, DType dtype, byte[] bytes, long? numel = null)
    {
        _storages[key] = (dtype, numel ?? bytes.Length / dtype.Size(), bytes);
        return this;
    }

    public TorchCheckpointWriter Floats(string key, params float[] values)
    {
        var b = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(i * 4), values[i]);
        return Storage(key, DType.Float32, b);
    }

    public static TensorSpec Contiguous(string key, params long[] shape)
    {
        var strides = new long[shape.Length];
        long s = 1;
        for (int d = shape.Length - 1; d >= 0; d--) { strides[d] = s; s *= shape[d]; }
        return new TensorSpec(key, 0, shape, strides);
    }

    public byte[] Pickle(object? root)
    {
        _storageMemo.Clear();
        _memo = 0;
        var w = new PickleWriter().Proto(2);
        Emit(w, root, top: true);
        return w.Stop().ToArray();
    }

    public void Write(string path, object? root) => WriteZip(path, Pickle(root));

    public void WriteZip(string path, byte[] pickle, bool includeRecords = true)
    {
        using var fs = File.Create(path);
        using var zip = new ZipArchive(fs, ZipArchiveMode.Create);
        Add(zip, $"{Folder}/data.pkl", pickle);
        if (includeRecords)
            foreach (var (key, s) in _storages) Add(zip, $"{Folder}/data/{key}", s.Bytes);
        Add(zip, $"{Folder}/version", "3\n"u8.ToArray());
    }

    private void Add(ZipArchive zip, string name, byte[] bytes)
    {
        var e = zip.CreateEntry(name, Compression);
        using var s = e.Open();
        s.Write(bytes);
    }

    private void Emit(PickleWriter w, object? v, bool top = false)
    {
        switch (v)
        {
            case null: w.None(); break;
            case bool b: w.Bool(b); break;
            case int i: w.Int(i); break;
            case long l: w.Int(l); break;
            case double d: w.Float(d); break;
            case string s: w.Str(s); break;
            case TensorSpec t: EmitTensor(w, t); break;
            case List<(string Key, object? Value)> dict:
                if (top && OrderedDictRoot) w.Global("collections", "OrderedDict").EmptyTuple().Reduce();
                else w.EmptyDict();
                w.Put(_memo++);
                if (dict.Count == 0) break;
                w.Mark();
                foreach (var (key, value) in dict) { w.Str(key); Emit(w, value); }
                w.SetItems();
                if (top && OrderedDictRoot)
                {
                    // state_dict's `_metadata` attribute, set through BUILD, as torch writes it.
                    w.EmptyDict().Str("_metadata").EmptyDict().Str("").EmptyDict().Str("version").Int(1).SetItem().SetItem().SetItem().Build();
                }
                break;
            case List<object?> list:
                w.EmptyList().Put(_memo++).Mark();
                foreach (var item in list) Emit(w, item);
                w.Appends();
                break;
            default: throw new ArgumentException($"Cannot pickle {v.GetType()}");
        }
    }

    private void EmitTensor(PickleWriter w, TensorSpec t)
    {
        if (t.AsParameter) w.Global("torch._utils", "_rebuild_parameter").Mark();
        w.Global("torch._utils", "_rebuild_tensor_v2").Mark();
        if (_storageMemo.TryGetValue(t.StorageKey, out int memo)) w.Get(memo);
        else
        {
            var (dtype, numel, _) = _storages[t.StorageKey];
            if (ClaimedNumel.TryGetValue(t.StorageKey, out long claimed)) numel = claimed;
            w.Mark().Str("storage").Global("torch", StorageName(dtype)).Str(t.StorageKey).Str("cpu").Int(numel).Tuple().BinPersId();
            _storageMemo[t.StorageKey] = _memo;
            w.Put(_memo++);
        }
        w.Int(t.Offset).IntTuple(t.Shape).IntTuple(t.Strides).Bool(false)
            .Global("collections", "OrderedDict").EmptyTuple().Reduce().Tuple().Reduce();
        if (t.AsParameter) w.Bool(true).Global("collections", "OrderedDict").EmptyTuple().Reduce().Tuple().Reduce();
    }

    public static string StorageName(DType t) => t switch
    {
        DType.Float32 => "FloatStorage", DType.Float16 => "HalfStorage", DType.BFloat16 => "BFloat16Storage",
        DType.Float64 => "DoubleStorage", DType.Int64 => "LongStorage", DType.Int32 => "IntStorage",
        DType.Int16 => "ShortStorage", DType.Int8 => "CharStorage", DType.UInt8 => "ByteStorage", _ => "BoolStorage",
    };

    public static List<(string, object?)> Dict(params (string, object?)[] entries) => [.. entries];
}
