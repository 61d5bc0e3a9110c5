using SegmentAnything.Tensors;

namespace SegmentAnything.Modeling;

/// <summary>
/// Collects intermediate module outputs under their official module names (e.g.
/// <c>image_encoder.blocks.0</c>), each in the official PyTorch layout, so they can be compared
/// with the fixtures' <c>debug.*</c> tensors. Passing no recorder costs nothing.
/// </summary>
public sealed class ActivationRecorder
{
    public Dictionary<string, Tensor> Activations { get; } = new(StringComparer.Ordinal);

    /// <summary>Stores a copy of <paramref name="value"/> with its official <paramref name="shape"/>.</summary>
    public void Record(string module, ReadOnlySpan<float> value, params int[] shape) =>
        Activations[module] = new Tensor(value.ToArray(), shape);
}
