using SegmentAnything.Kernels;

namespace SegmentAnything.Checkpoints;

/// <summary>
/// Binds state-dict entries to model fields by their official names, checking shapes. Problems are
/// collected rather than thrown one by one, so a mismatched checkpoint produces a single error that
/// names every missing, unexpected and mis-shaped key.
/// </summary>
public sealed class WeightBinder
{
    private readonly StateDict _dict;
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);
    private readonly List<string> _missing = [];
    private readonly List<string> _misShaped = [];
    private readonly List<string> _ignoredPrefixes = [];

    public WeightBinder(StateDict dict) => _dict = dict;

    public StateDict Dict => _dict;

    /// <summary>The float32 values of <paramref name="name"/>, which must have exactly <paramref name="shape"/>.</summary>
    public float[] Take(string name, params int[] shape)
    {
        int count = 1;
        foreach (int d in shape) count *= d;
        if (!_dict.Tensors.TryGetValue(name, out var t))
        {
            _missing.Add($"{name} [{string.Join(", ", shape)}]");
            return new float[count];
        }
        _used.Add(name);
        if (!t.Shape.SequenceEqual(shape))
        {
            _misShaped.Add($"{name}: expected [{string.Join(", ", shape)}], found [{string.Join(", ", t.Shape)}]");
            return new float[count];
        }
        float[] values = t.Floats;
        // The caller owns the values now; a lazy tensor forgets them, so the state dict never pins a second copy.
        t.Release();
        return values;
    }

    /// <summary>
    /// nn.Linear <paramref name="name"/> (<c>.weight</c> [out, in], optional <c>.bias</c> [out]) built straight from
    /// the checkpoint: the weight is read into a reused scratch buffer and packed, or, for int8 weights run
    /// dynamically, packed from its int8 bytes, so no float copy of it outlives the call.
    /// </summary>
    public Linear TakeLinear(string name, int inFeatures, int outFeatures, bool bias = true)
    {
        float[]? b = bias ? Take(name + ".bias", outFeatures) : null;
        string wName = name + ".weight";
        if (!_dict.Tensors.TryGetValue(wName, out var t) || !t.Shape.SequenceEqual([outFeatures, inFeatures]) || !t.IsLazy)
            return new Linear(Take(wName, outFeatures, inFeatures), b, inFeatures, outFeatures);
        _used.Add(wName);
        if (t.Source is Compression.Int8TensorSource q && q.RunsDynamic(wName)) return q.ToLinear(b, inFeatures, outFeatures);
        int count = inFeatures * outFeatures;
        float[] scratch = System.Buffers.ArrayPool<float>.Shared.Rent(count);
        try
        {
            t.CopyFloatsTo(scratch);
            return new Linear(scratch.AsSpan(0, count), b, inFeatures, outFeatures);
        }
        finally { System.Buffers.ArrayPool<float>.Shared.Return(scratch); }
    }

    /// <summary>Takes an optional tensor (e.g. a buffer the official code recomputes); null when absent.</summary>
    public CheckpointTensor? TakeOptional(string name)
    {
        if (!_dict.Tensors.TryGetValue(name, out var t)) return null;
        _used.Add(name);
        return t;
    }

    /// <summary>Marks every key under a prefix as accepted without binding it.</summary>
    public void Ignore(string prefixOrName) => _ignoredPrefixes.Add(prefixOrName);

    /// <summary>Throws one <see cref="CheckpointException"/> listing every problem, if any.</summary>
    public void Complete(string architecture)
    {
        var unexpected = _dict.Keys
            .Where(k => !_used.Contains(k) && !_ignoredPrefixes.Any(p => k == p || k.StartsWith(p, StringComparison.Ordinal)))
            .OrderBy(k => k, StringComparer.Ordinal).ToList();
        if (_missing.Count == 0 && _misShaped.Count == 0 && unexpected.Count == 0) return;
        var parts = new List<string>();
        if (_missing.Count > 0) parts.Add($"missing keys: {Summarize(_missing)}");
        if (_misShaped.Count > 0) parts.Add($"mis-shaped keys: {Summarize(_misShaped)}");
        if (unexpected.Count > 0) parts.Add($"unexpected keys: {Summarize(unexpected)}");
        throw new CheckpointException($"{_dict.Source}: checkpoint does not fit {architecture}; {string.Join("; ", parts)}.");
    }

    private static string Summarize(List<string> items) =>
        items.Count <= 12 ? string.Join(", ", items) : string.Join(", ", items.Take(12)) + $", ... ({items.Count} in all)";
}
