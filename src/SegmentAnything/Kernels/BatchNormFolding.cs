namespace SegmentAnything.Kernels;

/// <summary>
/// Folds an eval-mode BatchNorm that follows a convolution into the convolution's weight and bias
/// (TinyViT's Conv2d_BN): y = γ·(conv(x) + b − μ)/√(σ² + ε) + β, so w' = w·s and b' = (b − μ)·s + β
/// with s = γ/√(σ² + ε). The scale is computed in double so folding adds no rounding beyond the
/// final float store.
/// </summary>
public static class BatchNormFolding
{
    /// <param name="weight">Conv weight [Cout, ...] (any per-output-channel block size).</param>
    /// <param name="bias">Conv bias or null (nn.Conv2d(bias=False)).</param>
    /// <returns>The folded weight and bias (new arrays).</returns>
    public static (float[] Weight, float[] Bias) Fold(float[] weight, float[]? bias, int outChannels,
        ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, ReadOnlySpan<float> runningMean, ReadOnlySpan<float> runningVar, double eps = 1e-5)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (outChannels <= 0 || weight.Length % outChannels != 0) throw new ArgumentException("Weight size is not a multiple of the output channels.");
        if (gamma.Length != outChannels || beta.Length != outChannels || runningMean.Length != outChannels || runningVar.Length != outChannels)
            throw new ArgumentException("BatchNorm parameters must have one value per output channel.");
        if (bias is not null && bias.Length != outChannels) throw new ArgumentException("Bias must have one value per output channel.");
        int per = weight.Length / outChannels;
        var w = new float[weight.Length];
        var b = new float[outChannels];
        for (int o = 0; o < outChannels; o++)
        {
            double scale = gamma[o] / Math.Sqrt(runningVar[o] + eps);
            for (int i = 0; i < per; i++) w[o * per + i] = (float)(weight[o * per + i] * scale);
            b[o] = (float)(((bias?[o] ?? 0.0) - runningMean[o]) * scale + beta[o]);
        }
        return (w, b);
    }
}
