using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>
/// One of a decoder attention's image-side projections (keys, values or queries: x·Wᵀ + b, plus pe·Wᵀ where the
/// official code adds the positional encoding first) of the image tokens after the first blocks, in the
/// factored form of <see cref="MaskDecoderKeyProduct"/>: the prompt-independent part src·M_0 is projected once per
/// image and packed per head, so a prompt only adds rank heads·tokens terms and never materialises its image tokens.
/// </summary>
internal sealed class FactoredProjectionWeights
{
    public MaskDecoderKeyProduct Product { get; }
    public int Width { get; }
    private readonly float[] _weight;   // [width, dim] as stored
    private readonly int _dim;
    private readonly bool _withPe;

    /// <param name="weight">The Linear's weight [width, dim].</param>
    /// <param name="blocks">The blocks that produced the image tokens (their final LayerNorms and output biases).</param>
    public FactoredProjectionWeights(float[] weight, float[] bias, int dim, int width, (LayerNormParams, float[])[] blocks, bool withPe)
    {
        (_weight, _dim, Width, _withPe) = (weight, dim, width, withPe);
        var wt = new float[dim * width];
        for (int j = 0; j < width; j++)
            for (int i = 0; i < dim; i++) wt[i * width + j] = weight[j * dim + i];
        Product = new MaskDecoderKeyProduct(wt, bias, dim, width, blocks);
    }

    /// <summary>The image's part, packed per head for scores ([headDim, tokens]) or for values ([tokens, headDim]).</summary>
    public FactoredImageProjection Prepare(DecoderAttention attention, float[] src, float[] pos, int nk, bool forScores)
    {
        var image = Product.ImageProduct(src, nk);
        PackedMatrix[]? pe = null;
        if (_withPe)
        {
            var projected = GC.AllocateUninitializedArray<float>(nk * Width);
            Gemm.MatMul(nk, Width, _dim, pos, _dim, false, _weight, _dim, true, projected, Width);
            pe = attention.PackHeads(projected, nk, forScores);
        }
        return new FactoredImageProjection(Product, attention.PackHeads(image, nk, forScores), pe, attention.Heads, Width);
    }
}

/// <summary>One image's prepared part of a <see cref="FactoredProjectionWeights"/>.</summary>
internal sealed record FactoredImageProjection(MaskDecoderKeyProduct Product, PackedMatrix[] Image, PackedMatrix[]? Pe, int Heads, int Width);

/// <summary>Per image, the factored projections of every block after the first and of the final attention.</summary>
internal sealed class FactoredImageContext
{
    /// <summary>Per block (null for the first): token→image keys and values, image→token queries.</summary>
    public required FactoredImageProjection?[] T2iK { get; init; }
    public required FactoredImageProjection?[] T2iV { get; init; }
    public required FactoredImageProjection?[] I2tQ { get; init; }
    public required FactoredImageProjection FinalK { get; init; }
    public required FactoredImageProjection FinalV { get; init; }
}

/// <summary>
/// Attention products against factored image tokens. With the prompt's left operand L (<see cref="MaskDecoderKeyProduct.Lhs"/>,
/// [k, tokens]) and row scale G_0, a projection is G_0 ⊙ (src·M_0)·Wᵀ + Lᵀ·R (+ pe·Wᵀ), R = the prompt's right operand [k, width]:
/// scores per head q_h·(…)_hᵀ = G_0 ⊙ (q_h·(src·M_0)_hᵀ) + (q_h·R_hᵀ)·L (+ q_h·(pe·Wᵀ)_hᵀ) and values P_h·(…)_h =
/// (P_h ⊙ G_0)·(src·M_0)_h + (P_h·Lᵀ)·R_h: every product is per image, tiny, or M = tokens with small K.
/// </summary>
internal static class FactoredAttention
{
    /// <summary>Fills the prompt's left operand and row scale for image tokens after the projection's blocks.</summary>
    public static void PrepareLhs(FactoredImageProjection proj, DecoderKeyFactors f)
    {
        int k = proj.Product.Depth(f.Cols);
        proj.Product.Lhs(f, 0, f.Tokens, f.LhsBuffer(k * f.Tokens), f.G0Buffer());
    }

    /// <summary>Unscaled scores [heads·nq, tokens] of queries <paramref name="q"/> [nq, width] (row stride <paramref name="ldq"/>).</summary>
    public static void Scores(ReadOnlySpan<float> q, int ldq, int nq, FactoredImageProjection proj, DecoderKeyFactors f, Span<float> scores)
    {
        int nk = f.Tokens, k = proj.Product.Depth(f.Cols), n = proj.Width, heads = proj.Heads, hd = n / heads, rows = heads * nq;
        Span<float> rhs = DecoderScratch.Get(DecoderScratch.FactorRhs, k * n);
        proj.Product.PrepareRhs(f, rhs);
        Span<float> wf = DecoderScratch.Get(DecoderScratch.FactorSmall, rows * k);
        Gemm.MatMulBatched(heads, nq, k, hd, q, ldq, hd, false, rhs, n, hd, true, wf, k, nq * k);
        for (int h = 0; h < heads; h++)
            Gemm.MatMul(nq, q[(h * hd)..], ldq, false, proj.Image[h], scores[(h * nq * nk)..], nk);
        ReadOnlySpan<float> g0 = f.G0Buffer();
        for (int r = 0; r < rows; r++) Elementwise.Multiply(scores.Slice(r * nk, nk), g0);
        Gemm.MatMulCore(Gemm.Isa, KernelParallel.MaxThreads, rows, nk, k, wf, k, false, f.LhsBuffer(k * nk), nk, false, scores, nk, 1f, true, default, default);
        if (proj.Pe is { } pe)
            for (int h = 0; h < heads; h++)
                Gemm.MatMul(nq, q[(h * hd)..], ldq, false, pe[h], scores[(h * nq * nk)..], nk, accumulate: true);
    }

    /// <summary>Merged heads [nq, width] (row stride <paramref name="ldm"/>) of probabilities <paramref name="probs"/> [heads·nq, tokens] (scaled in place).</summary>
    public static void Values(Span<float> probs, int nq, FactoredImageProjection proj, DecoderKeyFactors f, Span<float> merged, int ldm)
    {
        int nk = f.Tokens, k = proj.Product.Depth(f.Cols), n = proj.Width, heads = proj.Heads, hd = n / heads, rows = heads * nq;
        Span<float> rhs = DecoderScratch.Get(DecoderScratch.FactorRhs, k * n);
        proj.Product.PrepareRhs(f, rhs);
        Span<float> z = DecoderScratch.Get(DecoderScratch.FactorSmall, rows * k);
        Gemm.MatMulCore(Gemm.Isa, KernelParallel.MaxThreads, rows, k, nk, probs, nk, false, f.LhsBuffer(k * nk), nk, true, z, k, 1f, false, default, default);
        ReadOnlySpan<float> g0 = f.G0Buffer();
        for (int r = 0; r < rows; r++) Elementwise.Multiply(probs.Slice(r * nk, nk), g0);
        for (int h = 0; h < heads; h++)
            Gemm.MatMul(nq, probs[(h * nq * nk)..], nk, false, proj.Image[h], merged[(h * hd)..], ldm);
        Gemm.MatMulBatched(heads, nq, hd, k, z, k, nq * k, false, rhs, n, hd, false, merged, ldm, hd, 1f, accumulate: true);
    }
}
