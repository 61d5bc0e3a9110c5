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

    /// <summary>residual += lin2(act(lin1(x))), the activation and the add fused into the products; pooled scratch.</summary>
    public void ForwardAddInto(ReadOnlySpan<float> x, int rows, Span<float> residual)
    {
        var pool = System.Buffers.ArrayPool<float>.Shared;
        float[] h = pool.Rent(rows * lin1.OutFeatures), y = pool.Rent(rows * lin2.OutFeatures);
        try
        {
            if (gelu) lin1.ForwardGelu(x, h, rows);
            else
            {
                lin1.Forward(x, h, rows);
                Activations.Relu(h.AsSpan(0, rows * lin1.OutFeatures));
            }
            lin2.ForwardAddInto(h, y, rows, residual);
        }
        finally { pool.Return(h); pool.Return(y); }
    }

    public float[] Forward(ReadOnlySpan<float> x, int rows)
    {
        var h = lin1.Forward(x, rows);
        if (gelu) Activations.Gelu(h); else Activations.Relu(h);
        return lin2.Forward(h, rows);
    }

    /// <summary><see cref="Forward"/> with its hidden rows and result rented from <see cref="TokenArena"/>.</summary>
    public float[] ForwardRented(ReadOnlySpan<float> x, int rows)
    {
        float[] h = TokenArena.Forward(lin1, x, rows);
        if (gelu) Activations.Gelu(h); else Activations.Relu(h);
        return TokenArena.Forward(lin2, h, rows);
    }
}
