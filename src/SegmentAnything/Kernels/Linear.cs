namespace SegmentAnything.Kernels;

/// <summary>
/// nn.Linear: y[rows, out] = x[rows, in] · Wᵀ + b. The weight is kept transposed ([in, out]) so the
/// product streams contiguous memory; the layout is private to the kernels.
/// </summary>
public sealed class Linear
{
    public int InFeatures { get; }
    public int OutFeatures { get; }
    private readonly float[] _weightT;
    private readonly float[]? _bias;

    /// <param name="weight">PyTorch layout [out, in].</param>
    public Linear(float[] weight, float[]? bias, int inFeatures, int outFeatures)
    {
        if (weight.Length != inFeatures * outFeatures) throw new ArgumentException("Linear weight has the wrong size.");
        if (bias is not null && bias.Length != outFeatures) throw new ArgumentException("Linear bias has the wrong size.");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        _weightT = new float[weight.Length];
        for (int o = 0; o < outFeatures; o++)
            for (int i = 0; i < inFeatures; i++) _weightT[i * outFeatures + o] = weight[o * inFeatures + i];
        _bias = bias;
    }

    public void Forward(ReadOnlySpan<float> x, Span<float> y, int rows)
    {
        if (_bias is null) Gemm.MatMul(x, _weightT, y, rows, InFeatures, OutFeatures);
        else
        {
            for (int r = 0; r < rows; r++) _bias.CopyTo(y.Slice(r * OutFeatures, OutFeatures));
            Gemm.MatMul(x, _weightT, y, rows, InFeatures, OutFeatures, accumulate: true);
        }
    }

    public float[] Forward(ReadOnlySpan<float> x, int rows)
    {
        var y = new float[rows * OutFeatures];
        Forward(x, y, rows);
        return y;
    }
}
