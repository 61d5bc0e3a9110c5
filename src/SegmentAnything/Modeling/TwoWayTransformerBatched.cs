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
}

internal sealed partial class TwoWayTransformer
{
    public DecoderImageContext PrepareImage(float[] src, float[] pos, int nk)
    {
        var first = _layers[0];
        var kpe = new float[src.Length];
        Elementwise.Add(src, pos, kpe);
        var (k, v, q) = first.ProjectImage(kpe, src, nk);
        return new DecoderImageContext { Tokens = nk, Src = src, Pos = pos, FirstKeysK = k, FirstKeysV = v, FirstImageQ = q };
    }

    /// <summary>
    /// <paramref name="prompts"/> prompts of <paramref name="nq"/> tokens each, [prompts·nq, dim], against
    /// one image. Returns the updated tokens and each prompt's image tokens [nk, dim].
    /// </summary>
    public (float[] Queries, float[][] Keys) ForwardBatched(float[] pointEmbedding, DecoderImageContext ctx, int prompts, int nq)
    {
        int nk = ctx.Tokens;
        float[] queries = pointEmbedding;
        float[][]? keys = null;
        for (int i = 0; i < _layers.Length; i++)
            (queries, keys) = _layers[i].ForwardBatched(queries, keys, pointEmbedding, ctx, prompts, nq, i == 0);
        var q = new float[queries.Length];
        Elementwise.Add(queries, pointEmbedding, q);
        float[] qp = _finalAttn.Q.Forward(q, prompts * nq);
        var merged = new float[prompts * nq * _finalAttn.InternalDim];
        int fd = _finalAttn.InternalDim;
        KernelParallel.ForEachSerial(prompts, p =>
        {
            var kpe = GC.AllocateUninitializedArray<float>(nk * Dim);
            Elementwise.Add(keys![p], ctx.Pos, kpe);
            _finalAttn.AttendToImage(qp.AsSpan(p * nq * fd), kpe, keys[p], merged.AsSpan(p * nq * fd), nq, nk);
        });
        float[] attn = _finalAttn.Out.Forward(merged, prompts * nq);
        Elementwise.Add(attn, queries);
        _normFinal.Apply(attn, prompts * nq);
        return (attn, keys!);
    }
}

internal sealed partial class TwoWayAttentionBlock
{
    /// <summary>The first block's prompt-independent image projections.</summary>
    public (float[] K, float[] V, float[] Q) ProjectImage(float[] kpe, float[] src, int nk) =>
        (_tokenToImage.K.Forward(kpe, nk), _tokenToImage.V.Forward(src, nk), _imageToToken.Q.Forward(kpe, nk));

    /// <summary>
    /// One block for many prompts: token-side work in one product over all prompts' tokens, image-side
    /// work per prompt. <paramref name="keys"/> is null in the first block (the shared image tokens).
    /// </summary>
    public (float[] Queries, float[][] Keys) ForwardBatched(float[] queries, float[][]? keys, float[] queryPe, DecoderImageContext ctx,
        int prompts, int nq, bool first)
    {
        int rows = prompts * nq, nk = ctx.Tokens, dim = ctx.Src.Length / nk;
        if (_skipFirstLayerPe) queries = _self.ForwardGrouped(queries, queries, queries, prompts, nq);
        else
        {
            float[] q = Sum(queries, queryPe);
            queries = Sum(queries, _self.ForwardGrouped(q, q, queries, prompts, nq));
        }
        _n1.Apply(queries, rows);

        // Token → image.
        int id = _tokenToImage.InternalDim;
        float[] qp = _tokenToImage.Q.Forward(Sum(queries, queryPe), rows);
        var merged = new float[rows * id];
        var kpes = new float[prompts][];
        KernelParallel.ForEachSerial(prompts, p =>
        {
            if (keys is null) _tokenToImage.Attend(qp.AsSpan(p * nq * id), ctx.FirstKeysK, ctx.FirstKeysV, merged.AsSpan(p * nq * id), nq, nk);
            else
            {
                kpes[p] = Sum(keys[p], ctx.Pos);
                _tokenToImage.AttendToImage(qp.AsSpan(p * nq * id), kpes[p], keys[p], merged.AsSpan(p * nq * id), nq, nk);
            }
        });
        queries = Sum(queries, _tokenToImage.Out.Forward(merged, rows));
        _n2.Apply(queries, rows);

        queries = Sum(queries, _mlp.Forward(queries, rows));
        _n3.Apply(queries, rows);

        // Image → token: the image tokens query the prompt's tokens.
        int jd = _imageToToken.InternalDim;
        float[] qpe = Sum(queries, queryPe);
        float[] tk = _imageToToken.K.Forward(qpe, rows), tv = _imageToToken.V.Forward(queries, rows);
        var newKeys = new float[prompts][];
        KernelParallel.ForEachSerial(prompts, p =>
        {
            float[] outp = _imageToToken.ImageAttendsTokens(keys is null ? ctx.FirstImageQ : null, keys is null ? null : kpes[p],
                tk.AsSpan(p * nq * jd, nq * jd), tv.AsSpan(p * nq * jd, nq * jd), nk, nq, dim);
            Elementwise.Add(outp, keys is null ? ctx.Src : keys[p]);
            _n4.Apply(outp, nk);
            newKeys[p] = outp;
        });
        return (queries, newKeys);
    }
}

internal sealed partial class DecoderAttention
{
    public Linear Q => _q;
    public Linear K => _k;
    public Linear V => _v;
    public Linear Out => _out;
    public int InternalDim => _internal;

    /// <summary>
    /// Multi-head attention of projected queries [nq, internal] over projected keys and values
    /// [nk, internal], heads as strided views (no copies); writes the merged heads [nq, internal].
    /// </summary>
    public void Attend(ReadOnlySpan<float> qp, ReadOnlySpan<float> kp, ReadOnlySpan<float> vp, Span<float> merged, int nq, int nk)
    {
        int hd = _internal / _heads;
        var scores = new float[_heads * nq * nk];
        Gemm.MatMulBatched(_heads, nq, nk, hd, qp, _internal, hd, false, kp, _internal, hd, true, scores, nk, nq * nk);
        float divisor = MathF.Sqrt(hd);
        for (int i = 0; i < scores.Length; i++) scores[i] /= divisor;
        Normalization.Softmax(scores, _heads * nq, nk);
        Gemm.MatMulBatched(_heads, nq, hd, nk, scores, nk, nq * nk, false, vp, _internal, hd, false, merged, _internal, hd);
    }

    /// <summary>Attention within each of <paramref name="groups"/> groups of <paramref name="n"/> tokens (self-attention per prompt).</summary>
    public float[] ForwardGrouped(float[] q, float[] k, float[] v, int groups, int n)
    {
        int rows = groups * n;
        float[] qp = _q.Forward(q, rows), kp = _k.Forward(k, rows), vp = _v.Forward(v, rows);
        var merged = new float[rows * _internal];
        for (int g = 0; g < groups; g++)
        {
            int o = g * n * _internal;
            Attend(qp.AsSpan(o), kp.AsSpan(o), vp.AsSpan(o), merged.AsSpan(o), n, n);
        }
        return _out.Forward(merged, rows);
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
    public void AttendToImage(ReadOnlySpan<float> qp, float[] kpe, float[] keys, Span<float> merged, int nq, int nk)
    {
        var r = Raw!;
        int hd = _internal / _heads, dim = kpe.Length / nk, rows = _heads * nq;
        var qk = new float[rows * dim];
        Gemm.MatMulBatched(_heads, nq, dim, hd, qp, _internal, hd, false, r.Wk, dim, hd * dim, false, qk, dim, nq * dim);
        var scores = GC.AllocateUninitializedArray<float>(rows * nk);
        Gemm.MatMul(qk, kpe, scores, rows, dim, nk, bTransposed: true);
        float divisor = MathF.Sqrt(hd);
        for (int h = 0; h < _heads; h++)
            for (int i = 0; i < nq; i++)
            {
                float bias = 0;
                for (int c = 0; c < hd; c++) bias += qp[i * _internal + h * hd + c] * r.Bk[h * hd + c];
                AddThenDivide(scores.AsSpan((h * nq + i) * nk, nk), bias, divisor);
            }
        Normalization.Softmax(scores, rows, nk);
        var pk = GC.AllocateUninitializedArray<float>(rows * dim);
        Gemm.MatMul(scores, keys, pk, rows, nk, dim);
        Gemm.MatMulBatched(_heads, nq, hd, dim, pk, dim, nq * dim, false, r.Wv, dim, hd * dim, true, merged, _internal, hd);
        for (int h = 0; h < _heads; h++)
            for (int i = 0; i < nq; i++)
            {
                float sum = 0;
                foreach (float v in scores.AsSpan((h * nq + i) * nk, nk)) sum += v;
                Span<float> o = merged.Slice(i * _internal + h * hd, hd);
                for (int c = 0; c < hd; c++) o[c] += sum * r.Bv[h * hd + c];
            }
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
    /// projected image queries <paramref name="imageQ"/> when given (shared by all prompts), else
    /// (keys+pe)·(Wqᵀ·kᵀ) + bq·kᵀ; output P·(v·Woᵀ) + bo. Returns [nk, dim].
    /// </summary>
    public float[] ImageAttendsTokens(float[]? imageQ, float[]? kpe, ReadOnlySpan<float> tk, ReadOnlySpan<float> tv, int nk, int nq, int dim)
    {
        var r = Raw!;
        int hd = _internal / _heads, cols = _heads * nq;
        var scores = GC.AllocateUninitializedArray<float>(nk * cols); // every branch overwrites it whole
        if (imageQ is not null)
            Gemm.MatMulBatched(_heads, nk, nq, hd, imageQ, _internal, hd, false, tk, _internal, hd, true, scores, cols, nq);
        else
        {
            var gt = new float[cols * dim];
            Gemm.MatMulBatched(_heads, nq, dim, hd, tk, _internal, hd, false, r.Wq, dim, hd * dim, false, gt, dim, nq * dim);
            Gemm.MatMul(kpe!, gt, scores, nk, dim, cols, bTransposed: true);
            var colBias = new float[cols];
            for (int h = 0; h < _heads; h++)
                for (int i = 0; i < nq; i++)
                {
                    float b = 0;
                    for (int c = 0; c < hd; c++) b += r.Bq[h * hd + c] * tk[i * _internal + h * hd + c];
                    colBias[h * nq + i] = b;
                }
            for (int j = 0; j < nk; j++)
            {
                Span<float> row = scores.AsSpan(j * cols, cols);
                Elementwise.Add(row, colBias);
            }
        }
        NarrowSoftmax.Apply(scores, nk * _heads, nq, 1f / MathF.Sqrt(hd));
        var u = new float[cols * dim];
        Gemm.MatMulBatched(_heads, nq, dim, hd, tv, _internal, hd, false, r.Wo, _internal, hd, true, u, dim, nq * dim);
        var outp = GC.AllocateUninitializedArray<float>(nk * dim);
        Gemm.MatMul(scores, u, outp, nk, cols, dim);
        for (int j = 0; j < nk; j++) Elementwise.Add(outp.AsSpan(j * dim, dim), r.Bo);
        return outp;
    }
}
