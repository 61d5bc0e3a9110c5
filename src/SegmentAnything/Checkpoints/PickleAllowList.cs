using System.Numerics;

namespace SegmentAnything.Checkpoints;

/// <summary>
/// The fixed set of globals a checkpoint pickle may name, and our own inert implementation of the few
/// that may be called. A global outside this list is rejected when it is named, before anything uses it:
/// that is what keeps <c>os.system</c>, <c>builtins.eval</c> and friends out.
/// </summary>
internal static class PickleAllowList
{
    private enum Kind { RebuildTensorV2, RebuildTensor, RebuildParameter, RebuildParameterWithState, RebuildFromTypeV2, OrderedDict, Device, Size, Set, FrozenSet, CodecsEncode, Storage, Marker }

    private static readonly Dictionary<string, DType> StorageTypes = new(StringComparer.Ordinal)
    {
        ["FloatStorage"] = DType.Float32, ["HalfStorage"] = DType.Float16, ["BFloat16Storage"] = DType.BFloat16,
        ["DoubleStorage"] = DType.Float64, ["LongStorage"] = DType.Int64, ["IntStorage"] = DType.Int32,
        ["ShortStorage"] = DType.Int16, ["CharStorage"] = DType.Int8, ["ByteStorage"] = DType.UInt8, ["BoolStorage"] = DType.Bool,
    };

    // Names that are only ever data (dtype and layout constants, tensor classes passed as a "type" argument).
    private static readonly string[] TorchMarkers =
    [
        "float32", "float", "float16", "half", "bfloat16", "float64", "double", "int64", "long", "int32", "int",
        "int16", "short", "int8", "uint8", "bool", "strided", "Tensor",
    ];

    private static readonly Dictionary<string, Kind> Allowed = BuildAllowed();

    private static Dictionary<string, Kind> BuildAllowed()
    {
        var d = new Dictionary<string, Kind>(StringComparer.Ordinal)
        {
            ["torch._utils._rebuild_tensor_v2"] = Kind.RebuildTensorV2,
            ["torch._utils._rebuild_tensor"] = Kind.RebuildTensor,
            ["torch._utils._rebuild_parameter"] = Kind.RebuildParameter,
            ["torch._utils._rebuild_parameter_with_state"] = Kind.RebuildParameterWithState,
            ["torch._tensor._rebuild_from_type_v2"] = Kind.RebuildFromTypeV2,
            ["collections.OrderedDict"] = Kind.OrderedDict,
            ["torch.device"] = Kind.Device,
            ["torch.Size"] = Kind.Size,
            ["builtins.set"] = Kind.Set, ["__builtin__.set"] = Kind.Set,
            ["builtins.frozenset"] = Kind.FrozenSet, ["__builtin__.frozenset"] = Kind.FrozenSet,
            ["_codecs.encode"] = Kind.CodecsEncode,
            ["torch.nn.parameter.Parameter"] = Kind.Marker,
        };
        foreach (var name in StorageTypes.Keys) d["torch." + name] = Kind.Storage;
        foreach (var name in TorchMarkers) d["torch." + name] = Kind.Marker;
        return d;
    }

    /// <summary>The global <paramref name="module"/>.<paramref name="name"/>, or a <see cref="CheckpointException"/> when it is not allowed.</summary>
    public static PickleGlobal Resolve(string module, string name, PickleContext ctx)
    {
        var g = new PickleGlobal(module, name);
        if (!Allowed.ContainsKey(g.FullName))
            throw ctx.Error($"global '{Printable(g.FullName)}' is not on the allow-list of a weights-only checkpoint (refusing to load it)");
        return g;
    }

    public static DType? StorageDType(PickleGlobal g) =>
        g.Module == "torch" && StorageTypes.TryGetValue(g.Name, out var t) ? t : null;

    /// <summary>REDUCE: our own implementation of calling an allowed global with <paramref name="args"/>.</summary>
    public static object? Call(object? callable, object? args, PickleContext ctx)
    {
        if (callable is not PickleGlobal g) throw ctx.Error($"REDUCE on {PickleReader.Describe(callable)}, which is not a callable global");
        if (args is not PickleTuple a) throw ctx.Error($"REDUCE of {g} with {PickleReader.Describe(args)} instead of an argument tuple");
        switch (Allowed[g.FullName])
        {
            case Kind.RebuildTensorV2:
                Arity(g, a, 6, 7, ctx);
                return RebuildTensor(g, a, ctx);
            case Kind.RebuildTensor:
                Arity(g, a, 4, 4, ctx);
                return RebuildTensor(g, a, ctx);
            case Kind.RebuildParameter:
                Arity(g, a, 3, 3, ctx);
                return ExpectTensor(g, a[0], ctx);
            case Kind.RebuildParameterWithState:
                Arity(g, a, 4, 4, ctx);
                return ExpectTensor(g, a[0], ctx);
            case Kind.RebuildFromTypeV2:
                // (func, new_type, args, state): the tensor subclass only matters to Python; rebuild the plain tensor.
                Arity(g, a, 4, 4, ctx);
                if (a[1] is not PickleGlobal { Name: "Tensor" or "Parameter" })
                    throw ctx.Error($"{g} with tensor type {PickleReader.Describe(a[1])}; only torch.Tensor and Parameter are supported");
                return Call(a[0], a[2], ctx);
            case Kind.OrderedDict:
                return NewDict(g, a, ctx);
            case Kind.Device:
                Arity(g, a, 1, 2, ctx);
                if (a[0] is not string type) throw ctx.Error($"{g} with a non-string device type");
                return a.Count == 2 && a[1] is long index ? $"{type}:{index}" : type;
            case Kind.Size:
                Arity(g, a, 0, 1, ctx);
                if (a.Count == 0) return new PickleTuple([]);
                return a[0] switch
                {
                    PickleTuple t => t,
                    List<object?> l => new PickleTuple(l.ToArray()),
                    var other => throw ctx.Error($"{g} of {PickleReader.Describe(other)}"),
                };
            case Kind.Set or Kind.FrozenSet:
                Arity(g, a, 0, 1, ctx);
                var set = new PickleSet();
                if (a.Count == 1)
                {
                    if (a[0] is List<object?> items) set.Items.AddRange(items);
                    else if (a[0] is PickleTuple tuple) set.Items.AddRange(tuple.Items);
                    else throw ctx.Error($"{g} of {PickleReader.Describe(a[0])}");
                }
                return set;
            case Kind.CodecsEncode:
                // Protocol 2 spells bytes as _codecs.encode(latin-1 text, "latin1").
                Arity(g, a, 2, 2, ctx);
                if (a[0] is not string text || a[1] is not ("latin1" or "latin-1"))
                    throw ctx.Error($"{g} is only supported as encode(str, 'latin1')");
                var bytes = new byte[text.Length];
                for (int i = 0; i < text.Length; i++)
                {
                    if (text[i] > 0xFF) throw ctx.Error($"{g}: character U+{(int)text[i]:X4} is not latin-1");
                    bytes[i] = (byte)text[i];
                }
                return bytes;
            default:
                throw ctx.Error($"{g} cannot be called");
        }
    }

    /// <summary>NEWOBJ / NEWOBJ_EX: <c>cls.__new__(cls, *args)</c>, supported only for dict types.</summary>
    public static object? New(object? cls, object? args, PickleContext ctx)
    {
        if (cls is PickleGlobal g && Allowed[g.FullName] == Kind.OrderedDict && args is PickleTuple a) return NewDict(g, a, ctx);
        throw ctx.Error($"cannot construct {PickleReader.Describe(cls)} with NEWOBJ");
    }

    private static PickleDict NewDict(PickleGlobal g, PickleTuple a, PickleContext ctx)
    {
        Arity(g, a, 0, 1, ctx);
        var dict = new PickleDict();
        if (a.Count == 0) return dict;
        if (a[0] is not List<object?> pairs) throw ctx.Error($"{g} of {PickleReader.Describe(a[0])}");
        foreach (var p in pairs)
        {
            if (p is not (PickleTuple { Count: 2 } or List<object?> { Count: 2 })) throw ctx.Error($"{g}: item is not a (key, value) pair");
            var kv = p is PickleTuple t ? t.Items : ((List<object?>)p!).ToArray();
            dict.Set(kv[0], kv[1]);
        }
        return dict;
    }

    private static void Arity(PickleGlobal g, PickleTuple a, int min, int max, PickleContext ctx)
    {
        if (a.Count < min || a.Count > max)
            throw ctx.Error($"{g} called with {a.Count} arguments (expected {(min == max ? min.ToString() : $"{min} to {max}")})");
    }

    private static TorchTensorRef ExpectTensor(PickleGlobal g, object? v, PickleContext ctx) =>
        v as TorchTensorRef ?? throw ctx.Error($"{g} expects a tensor, got {PickleReader.Describe(v)}");

    /// <summary>(storage, storage_offset, size, stride, ...): validated here against the storage's declared element count.</summary>
    private static TorchTensorRef RebuildTensor(PickleGlobal g, PickleTuple a, PickleContext ctx)
    {
        if (a[0] is not TorchStorageRef storage) throw ctx.Error($"{g}: first argument is {PickleReader.Describe(a[0])}, not a storage");
        if (a[1] is not long offset || offset < 0) throw ctx.Error($"{g}: storage offset {PickleReader.Describe(a[1])} is not a non-negative integer");
        long[] shape = IntTuple(g, a[2], "size", ctx);
        long[] strides = IntTuple(g, a[3], "stride", ctx);
        if (shape.Length != strides.Length) throw ctx.Error($"{g}: size has {shape.Length} dimensions but stride has {strides.Length}");
        if (shape.Length > TensorLimits.MaxRank) throw ctx.Error($"{g}: rank {shape.Length} exceeds {TensorLimits.MaxRank}");
        string? problem = TensorLimits.CheckView(shape, strides, offset, storage.Numel);
        if (problem is not null) throw ctx.Error($"{g}: tensor on storage '{storage.Key}' {problem}");
        return new TorchTensorRef(storage, offset, shape, strides, ctx.Offset);
    }

    private static long[] IntTuple(PickleGlobal g, object? v, string what, PickleContext ctx)
    {
        object?[] items = v switch
        {
            PickleTuple t => t.Items,
            List<object?> l => l.ToArray(),
            _ => throw ctx.Error($"{g}: {what} is {PickleReader.Describe(v)}, not a tuple of integers"),
        };
        if (items.Length > TensorLimits.MaxRank) throw ctx.Error($"{g}: {what} has {items.Length} dimensions (at most {TensorLimits.MaxRank})");
        var r = new long[items.Length];
        for (int i = 0; i < items.Length; i++)
            r[i] = items[i] switch
            {
                long x => x,
                BigInteger => throw ctx.Error($"{g}: {what}[{i}] is an absurdly large integer"),
                var other => throw ctx.Error($"{g}: {what}[{i}] is {PickleReader.Describe(other)}, not an integer"),
            };
        return r;
    }

    /// <summary>Escapes control characters so a hostile name cannot forge log lines.</summary>
    internal static string Printable(string s)
    {
        if (s.Length > 200) s = s[..200] + "...";
        return string.Concat(s.Select(c => char.IsControl(c) ? $"\\x{(int)c:X2}" : c.ToString()));
    }
}
