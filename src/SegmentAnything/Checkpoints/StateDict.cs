namespace SegmentAnything.Checkpoints;

/// <summary>The named tensors of a checkpoint, after unwrapping containers such as <c>{"model": state_dict}</c>.</summary>
public sealed class StateDict
{
    public Dictionary<string, CheckpointTensor> Tensors { get; }
    public string Source { get; }

    public StateDict(Dictionary<string, CheckpointTensor> tensors, string source)
    {
        Tensors = tensors;
        Source = source;
    }

    public bool Contains(string name) => Tensors.ContainsKey(name);

    public CheckpointTensor? Get(string name) => Tensors.GetValueOrDefault(name);

    public IEnumerable<string> Keys => Tensors.Keys;
}
