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
        var pe = _withPe ? PositionalPart(attention, pos, nk, forScores) : null;
        return new FactoredImageProjection(Product, attention.PackHeads(image, nk, forScores), pe, attention.Heads, Width);
    }

    private (float[] Pos, PackedMatrix[] Heads)? _peCache;

    /// <summary>pe·Wᵀ packed per head: the positional encoding is the same for every image of a model, so it is kept for the next image with the same one.</summary>
    private PackedMatrix[] PositionalPart(DecoderAttention attention, float[] pos, int nk, bool forScores)
    {
        lock (this)
        {
            if (_peCache is var (cached, heads) && (ReferenceEquals(cached, pos) || cached.AsSpan().SequenceEqual(pos))) return heads;
            var projected = GC.AllocateUninitializedArray<float>(nk * Width);
            Gemm.MatMul(nk, Width, _dim, pos, _dim, false, _weight, _dim, true, projected, Width);
            heads = attention.PackHeads(projected, nk, forScores);
            _peCache = ((float[])pos.Clone(), heads);
            return heads;
        }
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
