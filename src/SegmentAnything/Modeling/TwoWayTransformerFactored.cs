namespace SegmentAnything.Modeling;

internal sealed partial class TwoWayTransformer
{
    /// <summary>Per block after the first and for the final attention, the image-side projections' factored weights.</summary>
    private sealed record FactoredWeights(FactoredProjectionWeights?[] T2iK, FactoredProjectionWeights?[] T2iV, FactoredProjectionWeights?[] I2tQ,
        FactoredProjectionWeights FinalK, FactoredProjectionWeights FinalV);

    /// <summary>
    /// Whether batched decoding with key factors runs the later attentions on the factored image tokens
    /// (<see cref="FactoredAttention"/>) rather than on each prompt's packed image tokens: a switch for A/B tests.
    /// </summary>
    internal static bool UseFactoredAttention { get; set; } = true;

    private FactoredWeights? _factoredWeights;
    private readonly object _factoredLock = new();

    private FactoredWeights GetFactoredWeights()
    {
        lock (_factoredLock)
        {
            if (_factoredWeights is { } done) return done;
            int depth = _layers.Length;
            var blocks = new (LayerNormParams, float[])[depth];
            for (int b = 0; b < depth; b++) blocks[b] = ImageUpdate(b);
            var t2iK = new FactoredProjectionWeights?[depth];
            var t2iV = new FactoredProjectionWeights?[depth];
            var i2tQ = new FactoredProjectionWeights?[depth];
            for (int l = 1; l < depth; l++)
            {
                var before = blocks[..l];
                var t = _layers[l].TokenToImage;
                var i = _layers[l].ImageToToken;
                t2iK[l] = Projection(t, t.Raw!.Wk, t.Raw.Bk, before, withPe: true);
                t2iV[l] = Projection(t, t.Raw.Wv, t.Raw.Bv, before, withPe: false);
                i2tQ[l] = Projection(i, i.Raw!.Wq, i.Raw.Bq, before, withPe: true);
            }
            var f = _finalAttn.Raw!;
            return _factoredWeights = new FactoredWeights(t2iK, t2iV, i2tQ,
                Projection(_finalAttn, f.Wk, f.Bk, blocks, withPe: true), Projection(_finalAttn, f.Wv, f.Bv, blocks, withPe: false));
        }
    }

    private FactoredProjectionWeights Projection(DecoderAttention a, float[] w, float[] b, (LayerNormParams, float[])[] blocks, bool withPe) =>
        new(w, b, Dim, a.InternalDim, blocks, withPe);

    /// <summary>The image's factored projections, computed on first use and kept with the image's context.</summary>
    internal FactoredImageContext GetFactored(DecoderImageContext ctx)
    {
        lock (ctx)
        {
            if (ctx.Factored is { } done) return done;
            var w = GetFactoredWeights();
            int depth = _layers.Length, nk = ctx.Tokens;
            var t2iK = new FactoredImageProjection?[depth];
            var t2iV = new FactoredImageProjection?[depth];
            var i2tQ = new FactoredImageProjection?[depth];
            for (int l = 1; l < depth; l++)
            {
                t2iK[l] = w.T2iK[l]!.Prepare(_layers[l].TokenToImage, ctx.Src, ctx.Pos, nk, forScores: true);
                t2iV[l] = w.T2iV[l]!.Prepare(_layers[l].TokenToImage, ctx.Src, ctx.Pos, nk, forScores: false);
                i2tQ[l] = w.I2tQ[l]!.Prepare(_layers[l].ImageToToken, ctx.Src, ctx.Pos, nk, forScores: true);
            }
            return ctx.Factored = new FactoredImageContext
            {
                T2iK = t2iK, T2iV = t2iV, I2tQ = i2tQ,
                FinalK = w.FinalK.Prepare(_finalAttn, ctx.Src, ctx.Pos, nk, forScores: true),
                FinalV = w.FinalV.Prepare(_finalAttn, ctx.Src, ctx.Pos, nk, forScores: false),
            };
        }
    }
}
