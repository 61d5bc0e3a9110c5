using SegmentAnything.Checkpoints;
using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>Loads nn.Linear parameters by official name and shape.</summary>
internal static class Layers
{
    public static Linear Linear(WeightBinder w, string name, int inFeatures, int outFeatures, bool bias = true) =>
        w.TakeLinear(name, inFeatures, outFeatures, bias);

    /// <summary>Output width of nn.Linear <paramref name="name"/> as stored, or -1 when absent.</summary>
    public static int OutFeatures(StateDict d, string name) => d.Get(name + ".weight")?.Shape[0] ?? -1;

    public static int InFeatures(StateDict d, string name) => d.Get(name + ".weight")?.Shape[^1] ?? -1;

    /// <summary>Counts consecutive indexed children <c>prefix.0</c>, <c>prefix.1</c>, ... that have any parameter.</summary>
    public static int CountChildren(StateDict d, string prefix)
    {
        int n = 0;
        while (d.Keys.Any(k => k.StartsWith($"{prefix}.{n}.", StringComparison.Ordinal))) n++;
        return n;
    }
}

/// <summary>nn.LayerNorm over the last dimension (or LayerNorm2d over channels).</summary>
internal sealed class LayerNormParams(float[] weight, float[] bias, float eps)
{
    public float[] Weight { get; } = weight;
    public float[] Bias { get; } = bias;
    public float Eps { get; } = eps;
    public int Dim => Weight.Length;

    public static LayerNormParams Load(WeightBinder w, string name, int dim, float eps) =>
        new(w.Take(name + ".weight", dim), w.Take(name + ".bias", dim), eps);

    /// <summary>Normalises rows of [rows, dim] in place.</summary>
    public void Apply(Span<float> x, int rows) => Normalization.LayerNorm(x, rows, Dim, Weight, Bias, Eps);

    /// <summary>LayerNorm2d on a channel-planar map [dim, pixels], in place.</summary>
    public void Apply2d(Span<float> x, int pixels) => Normalization.LayerNorm2d(x, Dim, pixels, Weight, Bias, Eps);
}

/// <summary>The official MLPBlock: lin2(act(lin1(x))).</summary>
internal sealed class MlpBlock(Linear lin1, Linear lin2, bool gelu)
{
    public static MlpBlock Load(WeightBinder w, string name, int dim, int hidden, bool gelu) =>
        new(Layers.Linear(w, name + ".lin1", dim, hidden), Layers.Linear(w, name + ".lin2", hidden, dim), gelu);

    public int Hidden => lin1.OutFeatures;

    /// <summary>residual += mlp(x), with the hidden and output activations in pooled buffers.</summary>
    public void ForwardAdd(ReadOnlySpan<float> x, int rows, Span<float> residual)
    {
        var pool = System.Buffers.ArrayPool<float>.Shared;
        int hidden = rows * lin1.OutFeatures, output = rows * lin2.OutFeatures;
        float[] h = pool.Rent(hidden), y = pool.Rent(output);
        try
        {
            lin1.Forward(x, h.AsSpan(0, hidden), rows);
            if (gelu) Activations.Gelu(h.AsSpan(0, hidden)); else Activations.Relu(h.AsSpan(0, hidden));
            lin2.Forward(h.AsSpan(0, hidden), y.AsSpan(0, output), rows);
            Elementwise.Add(residual[..output], y.AsSpan(0, output));
        }
        finally { pool.Return(h); pool.Return(y); }
    }

    public float[] Forward(ReadOnlySpan<float> x, int rows)
    {
        var h = lin1.Forward(x, rows);
        if (gelu) Activations.Gelu(h); else Activations.Relu(h);
        return lin2.Forward(h, rows);
    }
}
