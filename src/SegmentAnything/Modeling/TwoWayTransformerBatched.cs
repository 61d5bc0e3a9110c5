using System.Runtime.Intrinsics;
using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>
/// What the decoder computes from the image alone when no mask is given, shared by every prompt: the
/// token-major image tokens (embedding plus the no-mask dense embedding) and positional encoding, and
/// the first block's image-side projections (token→image keys and values, image→token queries), which
/// precede any influence of the prompt.
/// </summary>
internal sealed class DecoderImageContext
{
    public required int Tokens { get; init; }
    public required float[] Src { get; init; }
    public required float[] Pos { get; init; }
    public required float[] FirstKeysK { get; init; }
    public required float[] FirstKeysV { get; init; }
    public required float[] FirstImageQ { get; init; }
    /// <summary>Per head, the first block's token→image keys as a packed [headDim, tokens] operand.</summary>
    public required PackedMatrix[] FirstKeysKT { get; init; }
    /// <summary>Per head, the first block's token→image values as a packed [tokens, headDim] operand.</summary>
    public required PackedMatrix[] FirstKeysVHeads { get; init; }
    /// <summary>Per head, the first block's image→token queries as a packed [headDim, tokens] operand.</summary>
    public required PackedMatrix[] FirstImageQT { get; init; }
    /// <summary>The per-image part of the reassociated first upscaling product (see <see cref="MaskDecoderKeyProduct"/>), when prepared.</summary>
    public float[]? KeyProduct { get; set; }
    /// <summary>The later attentions' image-side projections in factored form (<see cref="FactoredAttention"/>), once a batch needed them.</summary>
    public FactoredImageContext? Factored { get; set; }
}

internal sealed partial class TwoWayTransformer
{
    /// <summary>Image-token buffers [nk, dim] reused across calls, so decoding allocates no megabytes per prompt.</summary>
    private readonly Stack<float[]> _imageBuffers = new();

    public DecoderImageContext PrepareImage(float[] src, float[] pos, int nk)
    {
        var first = _layers[0];
        var kpe = new float[src.Length];
        Elementwise.Add(src, pos, kpe);
        var (k, v, q) = first.ProjectImage(kpe, src, nk);
        return new DecoderImageContext
        {
            Tokens = nk, Src = src, Pos = pos, FirstKeysK = k, FirstKeysV = v, FirstImageQ = q,
            FirstKeysKT = first.TokenToImage.PackHeads(k, nk, transposed: true),
            FirstKeysVHeads = first.TokenToImage.PackHeads(v, nk, transposed: false),
            FirstImageQT = first.ImageToToken.PackHeads(q, nk, transposed: true),
        };
    }

    public int Depth => _layers.Length;
    public int Heads => _layers[0].ImageToToken.Heads;

    /// <summary>Per block, the image tokens' final LayerNorm and the image→token attention's output bias.</summary>
    public (LayerNormParams Norm, float[] OutBias) ImageUpdate(int layer) => (_layers[layer].Norm4, _layers[layer].ImageToToken.Raw!.Bo);

    private readonly List<PackedMatrix> _packedKeys = new();

    /// <summary>A pooled packed operand of shape [k, n] (contents undefined: filled by <see cref="ImageTokenBands"/>).</summary>
    public PackedMatrix RentPacked(int k, int n)
    {
        lock (_packedKeys)
            for (int i = _packedKeys.Count - 1; i >= 0; i--)
            {
                var c = _packedKeys[i];
                if (c.K != k || c.N != n || c.Isa != Gemm.Isa) continue;
                _packedKeys.RemoveAt(i);
                return c;
            }
        return PackedMatrix.Allocate(Gemm.Isa, k, n);
    }

    public void ReturnPacked(PackedMatrix?[] packed)
    {
        lock (_packedKeys)
            foreach (var m in packed)
                if (m is not null && _packedKeys.Count < 3 * MaskDecoder.PromptChunk) _packedKeys.Add(m);
    }

    public float[] RentImageBuffer(int length)
    {
        lock (_imageBuffers)
            while (_imageBuffers.TryPop(out var b))
                if (b.Length == length) return b;
        return GC.AllocateUninitializedArray<float>(length);
    }

    public void ReturnImageBuffers(float[][] buffers)
    {
        lock (_imageBuffers)
            foreach (var b in buffers)
                if (b is not null && _imageBuffers.Count < 4 * MaskDecoder.PromptChunk) _imageBuffers.Push(b);
    }

    /// <summary>
    /// <paramref name="prompts"/> prompts of <paramref name="nq"/> tokens each, [prompts·nq, dim], against
    /// one image. Returns the updated tokens and each prompt's image tokens [nk, dim] (rented: give them back
    /// with <see cref="ReturnImageBuffers"/>). Only each prompt's first <paramref name="keptTokens"/> output
    /// tokens are final (the IoU and mask tokens); the later ones skip the last attention and are not meaningful.
    /// With <paramref name="factors"/> (and <see cref="UseFactoredAttention"/>) the image tokens are only recorded in them
    /// and the returned buffers hold no final image tokens.
    /// </summary>
    public (float[] Queries, float[][] Keys) ForwardBatched(float[] pointEmbedding, DecoderImageContext ctx, int prompts, int nq, int keptTokens,
        DecoderKeyFactors[]? factors = null)
    {
        int nk = ctx.Tokens, size = nk * Dim;
        DecoderProfile.Prompts(prompts);
        var keys = new float[prompts][];
        // With factors, the later attentions read the image tokens in factored form and nothing is packed.
        var fc = factors is null || !UseFactoredAttention ? null : GetFactored(ctx);
        // Else each prompt's image tokens packed as the next attention's operands, (keys + pe)ᵀ and keys, rewritten by every block.
        var kpeT = new PackedMatrix?[prompts];
        var keysB = new PackedMatrix?[prompts];
        for (int p = 0; p < prompts; p++)
        {
            keys[p] = RentImageBuffer(size);
            if (fc is not null) continue;
            kpeT[p] = RentPacked(Dim, nk);
            keysB[p] = RentPacked(nk, Dim);
        }
        float[] queries = pointEmbedding;
        for (int i = 0; i < _layers.Length; i++)
            queries = fc is null ? _layers[i].ForwardBatched(this, queries, keys, kpeT, keysB, pointEmbedding, ctx, prompts, nq, i, factors)
                : _layers[i].ForwardFactored(this, queries, keys, pointEmbedding, ctx, prompts, nq, i, factors!, fc);
        float[] q = TokenArena.Sum(queries, pointEmbedding);
        float[] qp = TokenArena.Forward(_finalAttn.Q, q, prompts * nq);
        // Only the kept tokens attend; the others' rows stay zero, as they would be unrented.
        float[] merged = TokenArena.Rent(prompts * nq * _finalAttn.InternalDim);
        Array.Clear(merged);
        int fd = _finalAttn.InternalDim;
        if (fc is null)
            KernelParallel.ForEachSerial(prompts, p =>
                _finalAttn.AttendToImage(qp.AsSpan(p * nq * fd), kpeT[p]!, keysB[p]!, merged.AsSpan(p * nq * fd), keptTokens, nk));
        else FactoredChunk.Attend(_finalAttn, qp, fc.FinalK, fc.FinalV, factors!, merged, prompts, nq, keptTokens, DecoderProfile.Final);
        ReturnPacked(kpeT);
        ReturnPacked(keysB);
        float[] attn = TokenArena.Forward(_finalAttn.Out, merged, prompts * nq);
        Elementwise.Add(attn, queries);
        _normFinal.Apply(attn, prompts * nq);
        return (attn, keys);
    }
}

internal sealed partial class TwoWayAttentionBlock
{
    public DecoderAttention TokenToImage => _tokenToImage;
    public DecoderAttention ImageToToken => _imageToToken;
    public LayerNormParams Norm4 => _n4;

    /// <summary>The first block's prompt-independent image projections.</summary>
    public (float[] K, float[] V, float[] Q) ProjectImage(float[] kpe, float[] src, int nk) =>
        (_tokenToImage.K.Forward(kpe, nk), _tokenToImage.V.Forward(src, nk), _imageToToken.Q.Forward(kpe, nk));

    /// <summary>
    /// The start of a block for many prompts, shared by the batched and factored paths: self-attention within
    /// each prompt's tokens (+ residual unless the first block skips the positional encoding), LayerNorm, then
    /// the token→image attention's projected queries and a rented buffer for its merged heads.
    /// </summary>
    private (float[] Qp, float[] Merged) TokenSelfAttentionAndQueries(ref float[] queries, float[] queryPe, int prompts, int nq)
    {
        int rows = prompts * nq;
        long t0 = DecoderProfile.Start();
        if (_skipFirstLayerPe) queries = _self.ForwardGrouped(queries, queries, queries, prompts, nq);
        else
        {
            float[] q = TokenArena.Sum(queries, queryPe);
            queries = TokenArena.Sum(queries, _self.ForwardGrouped(q, q, queries, prompts, nq));
        }
        _n1.Apply(queries, rows);
        float[] qp = TokenArena.Forward(_tokenToImage.Q, TokenArena.Sum(queries, queryPe), rows);
        float[] merged = TokenArena.Rent(rows * _tokenToImage.InternalDim);
        DecoderProfile.Lap(DecoderProfile.Tokens, t0);
        return (qp, merged);
    }

    /// <summary>
    /// One block for many prompts: token-side work in one product over all prompts' tokens, image-side
    /// work per prompt. Each prompt's image tokens <paramref name="keys"/> are updated in place and repacked as
    /// the next attention's operands (<paramref name="kpeT"/> = (keys + pe)ᵀ, <paramref name="keysB"/> = keys); in
    /// the first block they are inputs from <paramref name="ctx"/> (the shared image tokens) and only outputs here.
    /// </summary>
    public float[] ForwardBatched(TwoWayTransformer owner, float[] queries, float[][] keys, PackedMatrix?[] kpeT, PackedMatrix?[] keysB, float[] queryPe, DecoderImageContext ctx,
        int prompts, int nq, int layer, DecoderKeyFactors[]? factors)
    {
        bool first = layer == 0;
        int rows = prompts * nq, nk = ctx.Tokens, dim = ctx.Src.Length / nk;
        // Token → image.
        var (qp, merged) = TokenSelfAttentionAndQueries(ref queries, queryPe, prompts, nq);
        long t0;
        int id = _tokenToImage.InternalDim;
        KernelParallel.ForEachSerial(prompts, p =>
        {
            long t = DecoderProfile.Start();
            if (first) _tokenToImage.AttendPacked(qp.AsSpan(p * nq * id), ctx.FirstKeysKT, ctx.FirstKeysVHeads, merged.AsSpan(p * nq * id), nq, nk);
            else _tokenToImage.AttendToImage(qp.AsSpan(p * nq * id), kpeT[p]!, keysB[p]!, merged.AsSpan(p * nq * id), nq, nk);
            if (first) DecoderProfile.Lap(DecoderProfile.T2iPv, t);
        });
        t0 = DecoderProfile.Start();
        queries = TokenArena.Sum(queries, TokenArena.Forward(_tokenToImage.Out, merged, rows));
        _n2.Apply(queries, rows);

        queries = TokenArena.Sum(queries, _mlp.ForwardRented(queries, rows));
        _n3.Apply(queries, rows);

        // Image → token: the image tokens query the prompt's tokens.
        int jd = _imageToToken.InternalDim;
        float[] qpe = TokenArena.Sum(queries, queryPe);
        float[] tk = TokenArena.Forward(_imageToToken.K, qpe, rows), tv = TokenArena.Forward(_imageToToken.V, queries, rows);
        DecoderProfile.Lap(DecoderProfile.Tokens, t0);
        KernelParallel.ForEachSerial(prompts, p =>
        {
            long t = DecoderProfile.Start();
            var f = factors?[p];
            int cols = _imageToToken.Heads * nq;
            Span<float> probsT = f is null ? DecoderScratch.Get(DecoderScratch.Scores, cols * nk) : f.Probs(layer);
            Span<float> values = f is null ? DecoderScratch.Get(DecoderScratch.TokenRows2, cols * dim) : f.LayerValues(layer);
            _imageToToken.ImageAttendsTokens(first ? ctx.FirstImageQT : null, first ? null : kpeT[p],
                tk.AsSpan(p * nq * jd, nq * jd), tv.AsSpan(p * nq * jd, nq * jd), nk, nq, dim, default, probsT, values);
            // The output product runs band by band inside the residual LayerNorm's pass (its [nk, dim] result stays in L1).
            var packedValues = owner.RentPacked(cols, dim);
            Gemm.RepackB(packedValues, values, dim, bTransposed: false);
            ImageTokenBands.Finish(probsT, packedValues, _imageToToken.Raw!.Bo, first ? ctx.Src : keys[p], ctx.Pos, keys[p], kpeT[p], keysB[p], nk, dim, _n4,
                f is null ? default : f.Mean(layer), f is null ? default : f.Rstd(layer));
            owner.ReturnPacked([packedValues]);
        });
        return queries;
    }
}

internal sealed partial class DecoderAttention
{
    public Linear Q => _q;
    public Linear K => _k;
    public Linear V => _v;
    public Linear Out => _out;
    public int InternalDim => _internal;
    public int Heads => _heads;

    /// <summary>
    /// Multi-head attention of projected queries [nq, internal] over projected keys and values
    /// [nk, internal], heads as strided views (no copies); writes the merged heads [nq, internal].
    /// </summary>
    public void Attend(ReadOnlySpan<float> qp, ReadOnlySpan<float> kp, ReadOnlySpan<float> vp, Span<float> merged, int nq, int nk)
    {
        int hd = _internal / _heads;
        Span<float> scores = DecoderScratch.Get(DecoderScratch.Scores, _heads * nq * nk);
        Gemm.MatMulBatched(_heads, nq, nk, hd, qp, _internal, hd, false, kp, _internal, hd, true, scores, nk, nq * nk);
        float divisor = MathF.Sqrt(hd);
        for (int i = 0; i < scores.Length; i++) scores[i] /= divisor;
        Normalization.Softmax(scores, _heads * nq, nk);
        Gemm.MatMulBatched(_heads, nq, hd, nk, scores, nk, nq * nk, false, vp, _internal, hd, false, merged, _internal, hd);
    }

    /// <summary>
    /// Per head, the [tokens, internal] projection's head columns packed once as a GEMM operand: [headDim, tokens]
    /// (<paramref name="transposed"/>, for scores) or [tokens, headDim] (for values), so every prompt reuses the packing.
    /// </summary>
    public PackedMatrix[] PackHeads(float[] projected, int tokens, bool transposed)
    {
        int hd = _internal / _heads;
        var heads = new PackedMatrix[_heads];
        for (int h = 0; h < _heads; h++)
            heads[h] = transposed ? Gemm.PackB(projected.AsSpan(h * hd), hd, tokens, _internal, bTransposed: true)
                : Gemm.PackB(projected.AsSpan(h * hd), tokens, hd, _internal, bTransposed: false);
        return heads;
    }

    /// <summary><see cref="Attend"/> against keys and values packed per head by <see cref="PackHeads"/>.</summary>
    public void AttendPacked(ReadOnlySpan<float> qp, PackedMatrix[] keysT, PackedMatrix[] values, Span<float> merged, int nq, int nk)
    {
        int hd = _internal / _heads;
        Span<float> scores = DecoderScratch.Get(DecoderScratch.Scores, _heads * nq * nk);
        for (int h = 0; h < _heads; h++)
            Gemm.MatMul(nq, qp[(h * hd)..], _internal, false, keysT[h], scores[(h * nq * nk)..], nk);
        float divisor = MathF.Sqrt(hd);
        Elementwise.Scale(scores, 1f / divisor);
        Normalization.Softmax(scores, _heads * nq, nk);
        for (int h = 0; h < _heads; h++)
            Gemm.MatMul(nq, scores[(h * nq * nk)..], nk, false, values[h], merged[(h * hd)..], _internal);
    }

    /// <summary>Attention within each of (arrays rented from <see cref="TokenArena"/>) <paramref name="groups"/> groups of <paramref name="n"/> tokens (self-attention per prompt).</summary>
    public float[] ForwardGrouped(float[] q, float[] k, float[] v, int groups, int n)
    {
        int rows = groups * n;
        float[] qp = TokenArena.Forward(_q, q, rows), kp = TokenArena.Forward(_k, k, rows), vp = TokenArena.Forward(_v, v, rows);
        float[] merged = TokenArena.Rent(rows * _internal);
        for (int g = 0; g < groups; g++)
        {
            int o = g * n * _internal;
            Attend(qp.AsSpan(o), kp.AsSpan(o), vp.AsSpan(o), merged.AsSpan(o), n, n);
        }
        return TokenArena.Forward(_out, merged, rows);
    }
}

/// <summary>The attention's projection weights as stored ([out, in]), for products reassociated around the image tokens.</summary>
internal sealed record RawWeights(float[] Wq, float[] Bq, float[] Wk, float[] Bk, float[] Wv, float[] Bv, float[] Wo, float[] Bo)
{
    public static RawWeights Load(Checkpoints.WeightBinder w, string p, int dim, int id) => new(
        w.Take(p + ".q_proj.weight", id, dim), w.Take(p + ".q_proj.bias", id),
        w.Take(p + ".k_proj.weight", id, dim), w.Take(p + ".k_proj.bias", id),
        w.Take(p + ".v_proj.weight", id, dim), w.Take(p + ".v_proj.bias", id),
        w.Take(p + ".out_proj.weight", dim, id), w.Take(p + ".out_proj.bias", dim));
}

internal sealed partial class DecoderAttention
{
    public RawWeights? Raw { get; init; }

    /// <summary>
    /// A prompt's few tokens attending to the image tokens without projecting the image: the scores
    /// (q·Wk)·(keys+pe)ᵀ + q·bk and the output (P·keys)·Wvᵀ + rowsum(P)·bv are the official products
    /// reassociated, so the work per prompt scales with its tokens instead of the image's projections.
    /// <paramref name="qp"/> [nq, internal] projected queries; writes merged heads [nq, internal].
    /// </summary>
    public void AttendToImage(ReadOnlySpan<float> qp, PackedMatrix kpeT, PackedMatrix keys, Span<float> merged, int nq, int nk)
    {
        var r = Raw!;
        int hd = _internal / _heads, dim = kpeT.K, rows = _heads * nq;
        long t = DecoderProfile.Start();
        Span<float> qk = DecoderScratch.Get(DecoderScratch.TokenRows, rows * dim);
        Gemm.MatMulBatched(_heads, nq, dim, hd, qp, _internal, hd, false, r.Wk, dim, hd * dim, false, qk, dim, nq * dim);
        Span<float> scores = DecoderScratch.Get(DecoderScratch.Scores, rows * nk);
        Gemm.MatMul(rows, qk, dim, false, kpeT, scores, nk);
        t = DecoderProfile.Lap(DecoderProfile.T2iScores, t);
        float divisor = MathF.Sqrt(hd);
        for (int h = 0; h < _heads; h++)
            for (int i = 0; i < nq; i++)
            {
                float bias = 0;
                for (int c = 0; c < hd; c++) bias += qp[i * _internal + h * hd + c] * r.Bk[h * hd + c];
                AddThenDivide(scores.Slice((h * nq + i) * nk, nk), bias, divisor);
            }
        Normalization.Softmax(scores, rows, nk);
        t = DecoderProfile.Lap(DecoderProfile.T2iSoftmax, t);
        Span<float> pk = DecoderScratch.Get(DecoderScratch.TokenRows2, rows * dim);
        Gemm.MatMul(rows, scores, nk, false, keys, pk, dim);
        Gemm.MatMulBatched(_heads, nq, hd, dim, pk, dim, nq * dim, false, r.Wv, dim, hd * dim, true, merged, _internal, hd);
        for (int h = 0; h < _heads; h++)
            for (int i = 0; i < nq; i++)
            {
                float sum = 0;
                foreach (float v in scores.Slice((h * nq + i) * nk, nk)) sum += v;
                Span<float> o = merged.Slice(i * _internal + h * hd, hd);
                for (int c = 0; c < hd; c++) o[c] += sum * r.Bv[h * hd + c];
            }
        DecoderProfile.Lap(DecoderProfile.T2iPv, t);
    }

    private static unsafe void AddThenDivide(Span<float> row, float bias, float divisor)
    {
        int j = 0, n = row.Length;
        fixed (float* p = row)
        {
            if (Vector512.IsHardwareAccelerated)
            {
                var b = Vector512.Create(bias);
                var d = Vector512.Create(divisor);
                for (; j <= n - 16; j += 16) ((Vector512.Load(p + j) + b) / d).Store(p + j);
            }
            for (; j < n; j++) p[j] = (p[j] + bias) / divisor;
        }
    }

    /// <summary>
    /// Image tokens attending to a prompt's tokens, output projection included: scores from the
    /// projected image queries packed per head <paramref name="imageQT"/> when given (shared by all prompts), else
    /// (keys+pe)·(Wqᵀ·kᵀ) + bq·kᵀ; output P·(v·Woᵀ) + bo into <paramref name="outp"/> [nk, dim] when it is given (else the caller runs that product).
    /// The probabilities are kept transposed [(head, token), image token] in <paramref name="probsT"/> and the
    /// token values through the output weights [(head, token), dim] in <paramref name="values"/> when those are
    /// given (the factored image-token update), else in scratch.
    /// </summary>
    public void ImageAttendsTokens(PackedMatrix[]? imageQT, PackedMatrix? kpeT, ReadOnlySpan<float> tk, ReadOnlySpan<float> tv, int nk, int nq, int dim,
        Span<float> outp, Span<float> probsT = default, Span<float> values = default)
    {
        var r = Raw!;
        int hd = _internal / _heads, cols = _heads * nq;
        long t = DecoderProfile.Start();
        Span<float> u = values.IsEmpty ? DecoderScratch.Get(DecoderScratch.TokenRows2, cols * dim) : values[..(cols * dim)];
        Gemm.MatMulBatched(_heads, nq, dim, hd, tv, _internal, hd, false, r.Wo, _internal, hd, true, u, dim, nq * dim);
        // Scores stored transposed [(head, token), image token]: the softmax over a prompt's few tokens runs down
        // columns, vectorised across image tokens, and the output product reads them as a transposed operand.
        Span<float> scoresT = probsT.IsEmpty ? DecoderScratch.Get(DecoderScratch.Scores, cols * nk) : probsT[..(cols * nk)];
        if (imageQT is not null)
            for (int h = 0; h < _heads; h++)
                Gemm.MatMul(nq, tk[(h * hd)..], _internal, false, imageQT[h], scoresT[(h * nq * nk)..], nk);
        else
        {
            Span<float> gt = DecoderScratch.Get(DecoderScratch.TokenRows, cols * dim);
            Gemm.MatMulBatched(_heads, nq, dim, hd, tk, _internal, hd, false, r.Wq, dim, hd * dim, false, gt, dim, nq * dim);
            Gemm.MatMul(cols, gt, dim, false, kpeT!, scoresT, nk);
            for (int h = 0; h < _heads; h++)
                for (int i = 0; i < nq; i++)
                {
                    float b = 0;
                    for (int c = 0; c < hd; c++) b += r.Bq[h * hd + c] * tk[i * _internal + h * hd + c];
                    AddThenDivide(scoresT.Slice((h * nq + i) * nk, nk), b, 1f);
                }
        }
        t = DecoderProfile.Lap(DecoderProfile.I2tScores, t);
        ColumnSoftmax.Apply(scoresT, _heads, nq, nk, 1f / MathF.Sqrt(hd));
        t = DecoderProfile.Lap(DecoderProfile.I2tSoftmax, t);
        // The output bias is added as each product tile is stored, as the official Linear adds it after the sum.
        if (!outp.IsEmpty)
            Gemm.MatMulCore(Gemm.Isa, KernelParallel.MaxThreads, nk, dim, cols, scoresT, nk, true, u, dim, false, outp, dim, 1f, false, default, r.Bo);
        DecoderProfile.Lap(DecoderProfile.I2tOut, t);
    }
}
