using SegmentAnything.Checkpoints;
using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>TinyViT's <c>Mlp</c>: LayerNorm first, then fc1, exact GELU, fc2. Tokens [rows, Dim].</summary>
internal sealed class TinyViTMlp
{
    public int Dim { get; }
    public int Hidden { get; }
    private readonly float[] _normWeight, _normBias;
    private readonly Linear _fc1, _fc2;

    private TinyViTMlp(int dim, int hidden, float[] normWeight, float[] normBias, Linear fc1, Linear fc2)
    {
        (Dim, Hidden, _normWeight, _normBias, _fc1, _fc2) = (dim, hidden, normWeight, normBias, fc1, fc2);
    }

    public static TinyViTMlp Load(WeightBinder w, string name, int dim)
    {
        var fc1Weight = w.Dict.Get(name + ".fc1.weight");
        int hidden = fc1Weight is { Shape.Length: 2 } ? fc1Weight.Shape[0] : 4 * dim;
        float[] normW = w.Take(name + ".norm.weight", dim);
        float[] normB = w.Take(name + ".norm.bias", dim);
        var fc1 = new Linear(w.Take(name + ".fc1.weight", hidden, dim), w.Take(name + ".fc1.bias", hidden), dim, hidden);
        var fc2 = new Linear(w.Take(name + ".fc2.weight", dim, hidden), w.Take(name + ".fc2.bias", dim), hidden, dim);
        return new TinyViTMlp(dim, hidden, normW, normB, fc1, fc2);
    }

    /// <summary>y = x + mlp(x) for a band of rows, on the calling thread (uses band scratch slots 1 and 2).</summary>
    public void ForwardResidualRows(ReadOnlySpan<float> x, Span<float> y, int rows)
    {
        int d = Dim, hid = Hidden;
        float[] t = TinyViTBands.Scratch(1, rows * d);
        x[..(rows * d)].CopyTo(t);
        Normalization.LayerNorm(t, rows, d, _normWeight, _normBias, TinyViTAttention.LayerNormEps);
        float[] hidden = TinyViTBands.Scratch(2, rows * hid);
        _fc1.Forward(t, hidden, rows);
        Activations.Gelu(hidden.AsSpan(0, rows * hid));
        _fc2.Forward(hidden, y, rows);
        TinyViTMBConv.AddInPlace(y[..(rows * d)], x);
    }
}
