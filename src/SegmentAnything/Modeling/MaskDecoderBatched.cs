using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

public sealed partial class MaskDecoder
{
    /// <summary>Prompts decoded together: bounds the per-prompt image-token buffers held at once.</summary>
    internal const int PromptChunk = 8;

    /// <summary>
    /// The prompt-independent part of decoding one image without a mask input: planar
    /// [dim, h, w] <paramref name="imageEmbedding"/>, <paramref name="imagePe"/> and <paramref name="dense"/>.
    /// </summary>
    internal DecoderImageContext PrepareImage(float[] imageEmbedding, float[] imagePe, float[] dense, int h, int w)
    {
        int hw = h * w;
        var (src, pos) = TokenMajorInputs(imageEmbedding, imagePe, dense, hw);
        var ctx = _transformer.PrepareImage(src, pos, hw);
        ctx.KeyProduct = _keyProduct.ImageProduct(src, hw);
        return ctx;
    }

    /// <summary>
    /// Whether batched decoding takes the first upscaling product from the factored image-token updates
    /// (<see cref="MaskDecoderKeyProduct"/>) rather than from each prompt's image tokens: a switch for A/B tests.
    /// </summary>
    internal static bool UseKeyFactors { get; set; } = true;

    private readonly Stack<DecoderKeyFactors> _factorPool = new();

    private DecoderKeyFactors[]? RentFactors(DecoderImageContext ctx, int prompts, int nt)
    {
        if (!UseKeyFactors || ctx.KeyProduct is null) return null;
        int cols = _transformer.Heads * nt;
        var f = new DecoderKeyFactors[prompts];
        lock (_factorPool)
            for (int i = 0; i < prompts; i++)
            {
                while (_factorPool.TryPop(out var c))
                    if (c.Fits(_keyProduct.Layers, cols, ctx.Tokens, Dim)) { f[i] = c; break; }
                f[i] ??= new DecoderKeyFactors(_keyProduct.Layers, cols, ctx.Tokens, Dim);
            }
        return f;
    }

    private void ReturnFactors(DecoderKeyFactors[]? factors)
    {
        if (factors is null) return;
        lock (_factorPool)
            foreach (var f in factors)
                if (_factorPool.Count < PromptChunk) _factorPool.Push(f);
    }

    /// <summary>The transformer's inputs, token-major [hw, dim]: image embedding plus dense prompt embedding, and the positional encoding.</summary>
    private (float[] Src, float[] Pos) TokenMajorInputs(float[] imageEmbedding, float[] imagePe, float[] dense, int hw)
    {
        int dim = Dim;
        var planar = new float[dim * hw];
        Elementwise.Add(imageEmbedding, dense, planar);
        var src = new float[hw * dim];
        ImageEncoderViT.Transpose(planar, src, dim, hw);
        var pos = new float[hw * dim];
        ImageEncoderViT.Transpose(imagePe, pos, dim, hw);
        return (src, pos);
    }

    /// <summary>
    /// Decodes <paramref name="count"/> prompts of <paramref name="sparseTokens"/> sparse tokens each
    /// ([count, tokens, dim]) against a prepared image, keeping mask outputs
    /// [<paramref name="firstMask"/>, firstMask + maskCount). Returns low-res logits [count, maskCount, 4h, 4w]
    /// and IoUs [count, maskCount]. Each prompt's result does not depend on the others or on the batch size.
    /// With <paramref name="iouThreshold"/>, a prompt none of whose kept masks has a predicted IoU above it
    /// skips the upscaling (its logits stay zero); every other prompt's outputs are unchanged.
    /// </summary>
    internal (float[] LowRes, float[] Iou) PredictMasksBatched(DecoderImageContext ctx, float[] sparse, int count, int sparseTokens,
        int h, int w, int firstMask, int maskCount, float? iouThreshold = null)
    {
        int dim = Dim, hw = h * w, nt = 1 + NumMaskTokens + sparseTokens, pixels = 16 * hw, c8 = dim / 8;
        var lowRes = new float[(long)count * maskCount * pixels];
        var iouOut = new float[count * maskCount];
        for (int c0 = 0; c0 < count; c0 += PromptChunk)
        {
            int p = Math.Min(PromptChunk, count - c0);
            // Every token-side array of this chunk is rented and given back at its end.
            int mark = TokenArena.Mark();
            // In a finally, so a failing prompt cannot leave this thread's arena holding the chunk's arrays.
            try
            {
                float[] tokens = TokenArena.Rent(p * nt * dim);
                for (int i = 0; i < p; i++)
                {
                    int o = i * nt * dim;
                    _iouToken.CopyTo(tokens, o);
                    _maskTokens.CopyTo(tokens, o + dim);
                    sparse.AsSpan((c0 + i) * sparseTokens * dim, sparseTokens * dim).CopyTo(tokens.AsSpan(o + (1 + NumMaskTokens) * dim));
                }
                var factors = RentFactors(ctx, p, nt);
                var (hs, keys) = _transformer.ForwardBatched(tokens, ctx, p, nt, 1 + NumMaskTokens, factors);

                float[] rowsIn = TokenArena.Rent(p * dim);
                float[] hyperIn = TokenArena.Rent(p * NumMaskTokens * c8);
                for (int t = 0; t < NumMaskTokens; t++)
                {
                    for (int i = 0; i < p; i++) hs.AsSpan((i * nt + 1 + t) * dim, dim).CopyTo(rowsIn.AsSpan(i * dim));
                    float[] o = _hyper[t].ForwardRented(rowsIn, p);
                    for (int i = 0; i < p; i++) o.AsSpan(i * c8, c8).CopyTo(hyperIn.AsSpan((i * NumMaskTokens + t) * c8));
                }
                for (int i = 0; i < p; i++) hs.AsSpan(i * nt * dim, dim).CopyTo(rowsIn.AsSpan(i * dim));
                float[] iou = _iouHead.ForwardRented(rowsIn, p);
                int iouWidth = iou.Length / p;
                long tUp = DecoderProfile.Start();

                for (int i = 0; i < p; i++)
                {
                    var scores = iou.AsSpan(i * iouWidth + firstMask, maskCount);
                    scores.CopyTo(iouOut.AsSpan((c0 + i) * maskCount));
                    if (iouThreshold is float t && !AnyAbove(scores, t)) continue;
                    if (factors is not null)
                        _upscaler.Run(_keyProduct, ctx.KeyProduct!, factors[i], h, w, hyperIn, (i * NumMaskTokens + firstMask) * c8, maskCount, lowRes, (long)(c0 + i) * maskCount * pixels);
                    else _upscaler.Run(keys[i], h, w, hyperIn, (i * NumMaskTokens + firstMask) * c8, maskCount, lowRes, (long)(c0 + i) * maskCount * pixels);
                }
                DecoderProfile.Lap(DecoderProfile.Upscale, tUp);
                _transformer.ReturnImageBuffers(keys);
                ReturnFactors(factors);
            }
            finally { TokenArena.Release(mark); }
        }
        return (lowRes, iouOut);
    }

    /// <summary>Whether any score passes the automatic mask generator's filter (strictly above; NaN never passes).</summary>
    private static bool AnyAbove(ReadOnlySpan<float> scores, float threshold)
    {
        foreach (float s in scores) if (s > threshold) return true;
        return false;
    }
}
