namespace SegmentAnything.Checkpoints;

/// <summary>
/// Finds the state dict inside an unpickled checkpoint: the top-level dict when it holds tensors,
/// else a conventional wrapper key (<c>{"model": ...}</c>, <c>{"state_dict": ...}</c>), else the dict
/// holding the most tensors anywhere. Nested dicts of tensors are flattened with dotted names;
/// non-tensor values (epoch counters, config strings) are ignored.
/// </summary>
internal static class StateDictLocator
{
    public const int MaxDepth = 64;

    private static readonly string[] WrapperKeys = ["state_dict", "model", "model_state_dict", "module", "net", "network", "params", "weights"];

    public static List<KeyValuePair<string, TorchTensorRef>> Find(object? root, string where)
    {
        if (root is PickleDict top)
        {
            if (DirectTensorCount(top) > 0) return Flatten(top, where);
            foreach (string key in WrapperKeys)
                if (top.Get(key) is PickleDict wrapped)
                {
                    var found = Flatten(wrapped, where);
                    if (found.Count > 0) return found;
                }
            var all = Flatten(top, where);
            if (all.Count > 0) return all;
        }
        var best = BestDict(root, where);
        if (best is null) throw new CheckpointException($"{where}: the checkpoint holds no dict of tensors (top-level value is {PickleReader.Describe(root)}).");
        return Flatten(best, where);
    }

    private static int DirectTensorCount(PickleDict d) => d.Entries.Count(e => e.Key is string && e.Value is TorchTensorRef);

    /// <summary>Breadth-first over dicts, lists and tuples, each container once, returning the dict with the most tensor values.</summary>
    private static PickleDict? BestDict(object? root, string where)
    {
        var seen = new HashSet<object>(ReferenceEqualityComparer.Instance);
        var queue = new Queue<(object? Value, int Depth)>();
        queue.Enqueue((root, 0));
        PickleDict? best = null;
        int bestCount = 0;
        while (queue.Count > 0)
        {
            var (v, depth) = queue.Dequeue();
            if (v is null || v is string || !seen.Add(v)) continue;
            if (depth > MaxDepth) throw new CheckpointException($"{where}: containers nested deeper than {MaxDepth} levels.");
            IEnumerable<object?> children;
            switch (v)
            {
                case PickleDict d:
                    int n = DirectTensorCount(d);
                    if (n > bestCount) { best = d; bestCount = n; }
                    children = d.Entries.Select(e => e.Value);
                    break;
                case List<object?> l: children = l; break;
                case PickleTuple t: children = t.Items; break;
                default: continue;
            }
            foreach (var c in children) queue.Enqueue((c, depth + 1));
        }
        return best;
    }

    private static List<KeyValuePair<string, TorchTensorRef>> Flatten(PickleDict dict, string where)
    {
        var result = new List<KeyValuePair<string, TorchTensorRef>>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var visiting = new HashSet<object>(ReferenceEqualityComparer.Instance);
        // Explicit stack instead of recursion: a hostile file can nest dicts arbitrarily deep.
        var stack = new Stack<(PickleDict Dict, string Prefix, int Depth, int Next)>();
        stack.Push((dict, "", 0, 0));
        visiting.Add(dict);
        while (stack.Count > 0)
        {
            var (d, prefix, depth, next) = stack.Pop();
            if (next >= d.Entries.Count) continue;
            stack.Push((d, prefix, depth, next + 1));
            var (key, value) = d.Entries[next];
            if (key is not string k) continue;
            string name = prefix + k;
            if (value is TorchTensorRef t)
            {
                if (!names.Add(name)) throw new CheckpointException($"{where}: tensor name '{PickleAllowList.Printable(name)}' occurs twice after flattening nested dicts.");
                result.Add(new(name, t));
            }
            else if (value is PickleDict child)
            {
                if (depth + 1 > MaxDepth) throw new CheckpointException($"{where}: dicts nested deeper than {MaxDepth} levels at '{PickleAllowList.Printable(name)}'.");
                if (!visiting.Add(child)) throw new CheckpointException($"{where}: dict '{PickleAllowList.Printable(name)}' is reached twice (shared or cyclic containers).");
                stack.Push((child, name + ".", depth + 1, 0));
            }
        }
        return result;
    }
}
