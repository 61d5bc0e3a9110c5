using SegmentAnything.Checkpoints;
using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>
/// The official two-way transformer of the mask decoder: prompt tokens and image tokens attend to
/// each other for <c>depth</c> blocks, then the tokens attend to the image once more.
/// </summary>
internal sealed partial class TwoWayTransformer
{
    private readonly TwoWayAttentionBlock[] _layers;
    private readonly DecoderAttention _finalAttn;
    private readonly LayerNormParams _normFinal;
    public int Dim { get; }

    private TwoWayTransformer(TwoWayAttentionBlock[] layers, DecoderAttention finalAttn, LayerNormParams normFinal, int dim)
    {
        (_layers, _finalAttn, _normFinal, Dim) = (layers, finalAttn, normFinal, dim);
    }

    /// <param name="heads">The official decoders use 8 heads; the count is not recorded in the weights.</param>
    public static TwoWayTransformer Load(WeightBinder w, string prefix, int dim, int heads = 8)
    {
        int depth = Layers.CountChildren(w.Dict, prefix + "layers");
        if (depth == 0) throw new CheckpointException($"{w.Dict.Source}: no {prefix}layers.N found.");
        int mlp = Layers.OutFeatures(w.Dict, prefix + "layers.0.mlp.lin1");
        var layers = new TwoWayAttentionBlock[depth];
        for (int i = 0; i < depth; i++) layers[i] = TwoWayAttentionBlock.Load(w, $"{prefix}layers.{i}", dim, heads, mlp, skipFirstLayerPe: i == 0);
        return new TwoWayTransformer(layers, DecoderAttention.Load(w, prefix + "final_attn_token_to_image", dim, heads),
            LayerNormParams.Load(w, prefix + "norm_final_attn", dim, 1e-5f), dim);
    }

    /// <summary>
    /// queries [nq, dim] (the prompt tokens, also their positional encoding), keys [nk, dim] image
    /// tokens, keyPe [nk, dim]. Returns the updated (queries, keys).
    /// </summary>
    public (float[] Queries, float[] Keys) Forward(float[] pointEmbedding, float[] keys, float[] keyPe, int nq, int nk)
    {
        float[] queries = pointEmbedding;
        foreach (var layer in _layers) (queries, keys) = layer.Forward(queries, keys, pointEmbedding, keyPe, nq, nk);
        var q = new float[queries.Length];
        Elementwise.Add(queries, pointEmbedding, q);
        var k = new float[keys.Length];
        Elementwise.Add(keys, keyPe, k);
        float[] attn = _finalAttn.Forward(q, k, keys, nq, nk);
        var outQ = (float[])queries.Clone();
        Elementwise.Add(outQ, attn);
        _normFinal.Apply(outQ, nq);
        return (outQ, keys);
    }
}

/// <summary>TwoWayAttentionBlock: self-attention of tokens, token→image, MLP, image→token attention.</summary>
internal sealed partial class TwoWayAttentionBlock
{
    private readonly DecoderAttention _self, _tokenToImage, _imageToToken;
    private readonly LayerNormParams _n1, _n2, _n3, _n4;
    private readonly MlpBlock _mlp;
    private readonly bool _skipFirstLayerPe;

    private TwoWayAttentionBlock(DecoderAttention self, DecoderAttention t2i, DecoderAttention i2t, LayerNormParams n1, LayerNormParams n2, LayerNormParams n3, LayerNormParams n4, MlpBlock mlp, bool skip)
    {
        (_self, _tokenToImage, _imageToToken, _n1, _n2, _n3, _n4, _mlp, _skipFirstLayerPe) = (self, t2i, i2t, n1, n2, n3, n4, mlp, skip);
    }

    public static TwoWayAttentionBlock Load(WeightBinder w, string p, int dim, int heads, int mlp, bool skipFirstLayerPe) => new(
        DecoderAttention.Load(w, p + ".self_attn", dim, heads),
        DecoderAttention.Load(w, p + ".cross_attn_token_to_image", dim, heads),
        DecoderAttention.Load(w, p + ".cross_attn_image_to_token", dim, heads),
        LayerNormParams.Load(w, p + ".norm1", dim, 1e-5f), LayerNormParams.Load(w, p + ".norm2", dim, 1e-5f),
        LayerNormParams.Load(w, p + ".norm3", dim, 1e-5f), LayerNormParams.Load(w, p + ".norm4", dim, 1e-5f),
        MlpBlock.Load(w, p + ".mlp", dim, mlp, gelu: false), skipFirstLayerPe);

    public (float[] Queries, float[] Keys) Forward(float[] queries, float[] keys, float[] queryPe, float[] keyPe, int nq, int nk)
    {
        if (_skipFirstLayerPe) queries = _self.Forward(queries, queries, queries, nq, nq);
        else
        {
            float[] q = Sum(queries, queryPe);
            queries = Sum(queries, _self.Forward(q, q, queries, nq, nq));
        }
        _n1.Apply(queries, nq);

        float[] kpe = Sum(keys, keyPe);
        queries = Sum(queries, _tokenToImage.Forward(Sum(queries, queryPe), kpe, keys, nq, nk));
        _n2.Apply(queries, nq);

        queries = Sum(queries, _mlp.Forward(queries, nq));
        _n3.Apply(queries, nq);

        float[] qpe = Sum(queries, queryPe);
        keys = Sum(keys, _imageToToken.Forward(kpe, qpe, queries, nk, nq));
        _n4.Apply(keys, nk);
        return (queries, keys);
    }

    private static float[] Sum(float[] a, float[] b)
    {
        var r = GC.AllocateUninitializedArray<float>(a.Length); // overwritten whole
        Elementwise.Add(a, b, r);
        return r;
    }
}

/// <summary>The decoder's Attention: projections to an internal width (dim / downsample rate), multi-head attention, output projection.</summary>
internal sealed partial class DecoderAttention
{
    private readonly Linear _q, _k, _v, _out;
    private readonly int _heads, _internal;

    private DecoderAttention(Linear q, Linear k, Linear v, Linear o, int heads, int internalDim)
    {
        (_q, _k, _v, _out, _heads, _internal) = (q, k, v, o, heads, internalDim);
    }

    public static DecoderAttention Load(WeightBinder w, string p, int dim, int heads)
    {
        int internalDim = Layers.OutFeatures(w.Dict, p + ".q_proj");
        if (internalDim <= 0 || internalDim % heads != 0)
            throw new CheckpointException($"{w.Dict.Source}: {p}.q_proj width {internalDim} is not divisible by {heads} heads.");
        return new DecoderAttention(Layers.Linear(w, p + ".q_proj", dim, internalDim), Layers.Linear(w, p + ".k_proj", dim, internalDim),
            Layers.Linear(w, p + ".v_proj", dim, internalDim), Layers.Linear(w, p + ".out_proj", internalDim, dim), heads, internalDim)
        {
            Raw = RawWeights.Load(w, p, dim, internalDim),
        };
    }

    public float[] Forward(float[] q, float[] k, float[] v, int nq, int nk)
    {
        float[] qp = _q.Forward(q, nq), kp = _k.Forward(k, nk), vp = _v.Forward(v, nk);
        var merged = new float[nq * _internal];
        Attend(qp, kp, vp, merged, nq, nk);
        return _out.Forward(merged, nq);
    }
}
