using SegmentAnything.Kernels;

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

internal sealed partial class TwoWayAttentionBlock
{
    /// <summary>
    /// <see cref="ForwardBatched"/> with the image tokens read in factored form (<see cref="FactoredChunk"/>): each prompt's
    /// image tokens are only materialised row band by row band to take their LayerNorm statistics (and kept in
    /// <paramref name="keys"/> as the next block's residual), never packed or multiplied by the token-side matrices.
    /// </summary>
    public float[] ForwardFactored(TwoWayTransformer owner, float[] queries, float[][] keys, float[] queryPe, DecoderImageContext ctx,
        int prompts, int nq, int layer, DecoderKeyFactors[] factors, FactoredImageContext fc)
    {
        bool first = layer == 0, last = layer == owner.Depth - 1;
        int rows = prompts * nq, nk = ctx.Tokens, dim = ctx.Src.Length / nk;
        var (qp, merged) = TokenSelfAttentionAndQueries(ref queries, queryPe, prompts, nq);
        long t0;
        int id = _tokenToImage.InternalDim;
        if (first) FactoredChunk.AttendFirst(_tokenToImage, qp, ctx.FirstKeysKT, ctx.FirstKeysVHeads, merged, prompts, nq, nk);
        else FactoredChunk.Attend(_tokenToImage, qp, fc.T2iK[layer]!, fc.T2iV[layer]!, factors, merged, prompts, nq, nq, DecoderProfile.T2iPv);
        t0 = DecoderProfile.Start();
        queries = TokenArena.Sum(queries, TokenArena.Forward(_tokenToImage.Out, merged, rows));
        _n2.Apply(queries, rows);
        queries = TokenArena.Sum(queries, _mlp.ForwardRented(queries, rows));
        _n3.Apply(queries, rows);

        int jd = _imageToToken.InternalDim, heads = _imageToToken.Heads, hd = jd / heads, cols = heads * nq;
        float[] qpe = TokenArena.Sum(queries, queryPe);
        float[] tk = TokenArena.Forward(_imageToToken.K, qpe, rows), tv = TokenArena.Forward(_imageToToken.V, queries, rows);
        DecoderProfile.Lap(DecoderProfile.Tokens, t0);
        // Image → token scores, token-major [(token, head), image token] per prompt: the chunk's per-image parts first.
        t0 = DecoderProfile.Start();
        // After the first block both parts are made per prompt, straight into its probabilities' buffer (the pe part in a
        // per-thread one): cache-resident, instead of chunk-wide buffers written out to memory and read back.
        float[]? s = first ? TokenArena.Rent(prompts * cols * nk) : null;
        if (s is not null) FactoredChunk.HeadProducts(tk, jd, rows, ctx.FirstImageQT, s, nk);
        DecoderProfile.Lap(DecoderProfile.I2tScores, t0, KernelParallel.MaxThreads);
        var wo = _imageToToken.Raw!.Wo;
        KernelParallel.ForEachSerial(prompts, p =>
        {
            long t = DecoderProfile.Start();
            var f = factors[p];
            Span<float> probsT = f.Probs(layer), values = f.LayerValues(layer);
            int o = p * cols * nk;
            if (!first)
            {
                var proj = fc.I2tQ[layer]!;
                Span<float> scores = probsT[..(cols * nk)], pe = DecoderScratch.Get(DecoderScratch.PeScores, cols * nk);
                FactoredChunk.HeadProducts(tk.AsSpan(p * nq * jd), jd, nq, proj.Image, scores, nk);
                FactoredChunk.HeadProducts(tk.AsSpan(p * nq * jd), jd, nq, proj.Pe!, pe, nk);
                FactoredChunk.CombineScores(scores, pe, proj, f, tk.AsSpan(p * nq * jd), jd, nq, scores);
            }
            t = DecoderProfile.Lap(DecoderProfile.I2tScores, t);
            // Each image token's softmax runs over the prompt's tokens: down the columns of [token, (head, image token)].
            // The first block's scores are read from the chunk's buffer as they are, without a copy into the factors.
            ColumnSoftmax.Apply(first ? s!.AsSpan(o, cols * nk) : probsT, probsT, 1, nq, heads * nk, 1f / MathF.Sqrt(hd));
            t = DecoderProfile.Lap(DecoderProfile.I2tSoftmax, t);
            Gemm.MatMulBatched(heads, nq, dim, hd, tv.AsSpan(p * nq * jd), jd, hd, false, wo, jd, hd, true, values, heads * dim, dim);
            var packedValues = owner.RentPacked(cols, dim);
            Gemm.RepackB(packedValues, values, dim, bTransposed: false);
            // The last block's image tokens are read only in factored form: its pass keeps just their statistics.
            ImageTokenBands.Finish(probsT, packedValues, _imageToToken.Raw!.Bo, first ? ctx.Src : keys[p], ctx.Pos, last ? default : keys[p], null, null, nk, dim, _n4,
                f.Mean(layer), f.Rstd(layer));
            owner.ReturnPacked([packedValues]);
        });
        return queries;
    }
}
