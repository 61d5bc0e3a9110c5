namespace SegmentAnything.Checkpoints;

// The value model of the restricted unpickler. Python values map to plain .NET values where one fits:
// None -> null, bool -> bool, int -> long (or BigInteger beyond 64 bits), float -> double,
// str -> string, bytes -> byte[], list -> List<object?>, tuple -> PickleTuple, dict -> PickleDict.
// Everything torch-specific stays inert data: nothing here ever runs code named by the file.

/// <summary>A Python tuple (immutable, distinguished from a list).</summary>
internal sealed class PickleTuple(object?[] items)
{
    public object?[] Items { get; } = items;
    public int Count => Items.Length;
    public object? this[int i] => Items[i];
}

/// <summary>A Python dict or OrderedDict, in insertion order; a repeated key replaces the earlier value in place.</summary>
internal sealed class PickleDict
{
    private readonly List<KeyValuePair<object?, object?>> _entries = [];
    private readonly Dictionary<object, int> _index = new();

    public IReadOnlyList<KeyValuePair<object?, object?>> Entries => _entries;

    public void Set(object? key, object? value)
    {
        // Only scalar keys are looked up; other keys (tuples, lists) just append, which is all we need.
        if (key is string or long or bool or double)
        {
            if (_index.TryGetValue(key, out int at)) { _entries[at] = new(key, value); return; }
            _index[key] = _entries.Count;
        }
        _entries.Add(new(key, value));
    }

    public object? Get(string key) => _index.TryGetValue(key, out int at) ? _entries[at].Value : null;
}

/// <summary>A Python set or frozenset, kept only as its elements.</summary>
internal sealed class PickleSet
{
    public List<object?> Items { get; } = [];
}

/// <summary>A global the allow-list accepted (a class or function reference), never invoked as code.</summary>
internal sealed record PickleGlobal(string Module, string Name)
{
    public string FullName => $"{Module}.{Name}";
    public override string ToString() => FullName;
}

/// <summary>The result of constructing an allowed class we do not model further (e.g. state passed to BUILD).</summary>
internal sealed class PickleObject(PickleGlobal type)
{
    public PickleGlobal Type { get; } = type;
    public object? State { get; set; }
}

/// <summary>A storage named by a persistent id: record <c>data/&lt;Key&gt;</c> holding <c>Numel</c> elements of <c>DType</c>.</summary>
internal sealed record TorchStorageRef(string Key, DType DType, long Numel, string Location);

/// <summary>A tensor view over a storage, as <c>_rebuild_tensor_v2</c> describes it; decoded only after validation.</summary>
internal sealed class TorchTensorRef(TorchStorageRef storage, long offset, long[] shape, long[] strides, long pickleOffset)
{
    public TorchStorageRef Storage { get; } = storage;
    public long Offset { get; } = offset;
    public long[] Shape { get; } = shape;
    public long[] Strides { get; } = strides;
    /// <summary>Where in data.pkl the tensor was built, for error messages.</summary>
    public long PickleOffset { get; } = pickleOffset;
}
