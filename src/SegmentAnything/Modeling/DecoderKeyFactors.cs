namespace SegmentAnything.Modeling;

/// <summary>
/// One prompt's image-token updates in factored form, recorded as the two-way transformer runs: each block
/// adds P·U + bo to the image tokens (P the image→token attention probabilities, U the prompt's token values
/// through the output weights, rank heads·tokens) and then normalises every row with its own mean and
/// 1/σ. With these, a linear map of the final image tokens is a per-image product plus low-rank terms
/// (see <see cref="MaskDecoderKeyProduct"/>), so no prompt has to multiply its own image tokens.
/// </summary>
internal sealed class DecoderKeyFactors
{
    public int Layers { get; }
    /// <summary>Columns of each block's probabilities: heads × tokens per prompt.</summary>
    public int Cols { get; }
    public int Tokens { get; }
    public int Dim { get; }
    /// <summary>[layers, cols, tokens]: each block's probabilities, transposed.</summary>
    public float[] ProbsT { get; }
    /// <summary>[layers, cols, dim]: each block's token values through its output projection (no bias).</summary>
    public float[] Values { get; }
    /// <summary>[layers, 2, tokens]: each block's final LayerNorm mean and 1/σ per image token.</summary>
    public float[] Stats { get; }
    /// <summary>The decoder's right-hand operand built from <see cref="Values"/> (owned and filled by the decoder).</summary>
    public float[]? Rhs { get; set; }

    public DecoderKeyFactors(int layers, int cols, int tokens, int dim)
    {
        (Layers, Cols, Tokens, Dim) = (layers, cols, tokens, dim);
        ProbsT = GC.AllocateUninitializedArray<float>(layers * cols * tokens);
        Values = GC.AllocateUninitializedArray<float>(layers * cols * dim);
        Stats = GC.AllocateUninitializedArray<float>(layers * 2 * tokens);
    }

    public bool Fits(int layers, int cols, int tokens, int dim) => Layers == layers && Cols == cols && Tokens == tokens && Dim == dim;

    public Span<float> Probs(int layer) => ProbsT.AsSpan(layer * Cols * Tokens, Cols * Tokens);
    public Span<float> LayerValues(int layer) => Values.AsSpan(layer * Cols * Dim, Cols * Dim);
    public Span<float> Mean(int layer) => Stats.AsSpan(2 * layer * Tokens, Tokens);
    public Span<float> Rstd(int layer) => Stats.AsSpan((2 * layer + 1) * Tokens, Tokens);
}
