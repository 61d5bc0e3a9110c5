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
        VectorOps.Add(src, pos, kpe);
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
        VectorOps.Add(queries, pointEmbedding, q);
        float[] qp = _finalAttn.Q.Forward(q, prompts * nq);
        var merged = new float[prompts * nq * _finalAttn.InternalDim];
        var kpe = new float[nk * Dim];
        for (int p = 0; p < prompts; p++)
        {
            VectorOps.Add(keys![p], ctx.Pos, kpe);
            float[] kp = _finalAttn.K.Forward(kpe, nk), vp = _finalAttn.V.Forward(keys[p], nk);
            _finalAttn.Attend(qp.AsSpan(p * nq * _finalAttn.InternalDim), kp, vp, merged.AsSpan(p * nq * _finalAttn.InternalDim), nq, nk);
        }
        float[] attn = _finalAttn.Out.Forward(merged, prompts * nq);
        VectorOps.Add(attn, queries);
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
        for (int p = 0; p < prompts; p++)
        {
            float[] kp, vp;
            if (keys is null) (kp, vp) = (ctx.FirstKeysK, ctx.FirstKeysV);
            else
            {
                kpes[p] = Sum(keys[p], ctx.Pos);
                kp = _tokenToImage.K.Forward(kpes[p], nk);
                vp = _tokenToImage.V.Forward(keys[p], nk);
            }
            _tokenToImage.Attend(qp.AsSpan(p * nq * id), kp, vp, merged.AsSpan(p * nq * id), nq, nk);
        }
        queries = Sum(queries, _tokenToImage.Out.Forward(merged, rows));
        _n2.Apply(queries, rows);

        queries = Sum(queries, _mlp.Forward(queries, rows));
        _n3.Apply(queries, rows);

        // Image → token: the image tokens query the prompt's tokens.
        int jd = _imageToToken.InternalDim;
        float[] qpe = Sum(queries, queryPe);
        float[] tk = _imageToToken.K.Forward(qpe, rows), tv = _imageToToken.V.Forward(queries, rows);
        var newKeys = new float[prompts][];
        var m2 = new float[nk * jd];
        for (int p = 0; p < prompts; p++)
        {
            float[] iq = keys is null ? ctx.FirstImageQ : _imageToToken.Q.Forward(kpes[p], nk);
            _imageToToken.Attend(iq, tk.AsSpan(p * nq * jd, nq * jd), tv.AsSpan(p * nq * jd, nq * jd), m2, nk, nq);
            float[] outp = _imageToToken.Out.Forward(m2, nk);
            VectorOps.Add(outp, keys is null ? ctx.Src : keys[p]);
            _n4.Apply(outp, nk);
            newKeys[p] = outp;
        }
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
