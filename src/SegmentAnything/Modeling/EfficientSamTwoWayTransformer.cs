using SegmentAnything.Checkpoints;
using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>
/// EfficientSAM's <c>TwoWayTransformer</c> (two_way_transformer.py): prompt tokens and image tokens
/// attend to each other for <see cref="Depth"/> blocks, then the tokens attend to the image once more.
/// Unlike SAM's, every block (the first included) adds its self-attention output residually, and from
/// the second block on the positional encoding is folded into the queries themselves.
/// </summary>
public sealed class EfficientSamTwoWayTransformer
{
    private const float LayerNormEps = 1e-5f;
    private readonly EfficientSamTwoWayBlock[] _layers;
    private readonly EfficientSamTwoWayAttention _finalAttention;
    private readonly EfficientSamLayerNorm _finalNorm;

    public int EmbeddingDim { get; }
    public int Depth => _layers.Length;

    public EfficientSamTwoWayTransformer(WeightBinder binder, string prefix, int embeddingDim, int depth, int numHeads,
        int mlpDim, int crossAttentionDim)
    {
        EmbeddingDim = embeddingDim;
        _layers = new EfficientSamTwoWayBlock[depth];
        for (int i = 0; i < depth; i++)
            _layers[i] = new EfficientSamTwoWayBlock(binder, $"{prefix}.layers.{i}", embeddingDim, numHeads, mlpDim,
                crossAttentionDim, skipFirstLayerPe: i == 0);
        _finalAttention = new EfficientSamTwoWayAttention(binder, prefix + ".final_attn_token_to_image", embeddingDim, crossAttentionDim, numHeads);
        _finalNorm = new EfficientSamLayerNorm(binder, prefix + ".norm_final_attn", embeddingDim, LayerNormEps);
    }

    /// <param name="imageTokens">[nImage, C]: the image embedding flattened and transposed (B·HW·C layout).</param>
    /// <param name="imagePe">[nImage, C], same layout.</param>
    /// <param name="pointEmbedding">[nTokens, C].</param>
    /// <returns>The processed tokens [nTokens, C] and image tokens [nImage, C].</returns>
    public (float[] Queries, float[] Keys) Forward(ReadOnlySpan<float> imageTokens, ReadOnlySpan<float> imagePe, int nImage,
        ReadOnlySpan<float> pointEmbedding, int nTokens)
    {
        int c = EmbeddingDim;
        if (imageTokens.Length != nImage * c || imagePe.Length != nImage * c || pointEmbedding.Length != nTokens * c)
            throw new ArgumentException("Two-way transformer inputs have inconsistent sizes.");
        float[] queries = pointEmbedding.ToArray();
        float[] keys = imageTokens.ToArray();
        foreach (var layer in _layers) layer.Forward(queries, keys, pointEmbedding, imagePe, nTokens, nImage, null);
        return Finish(queries, keys, pointEmbedding, imagePe, nTokens, nImage);
    }

    /// <summary>
    /// The first block's prompt-independent image-side work: until its image→token step the image tokens are
    /// the embedding itself, so keys + pe and its key/value projections, and the image→token query projection,
    /// depend on the image only.
    /// </summary>
    internal EfficientSamFirstBlockImage? PrepareImage(float[] imageTokens, float[] imagePe, int nImage) =>
        _layers.Length == 0 ? null : _layers[0].PrepareImage(imageTokens, imagePe, nImage);

    /// <summary><see cref="Forward"/> with the first block's image-side work taken from <paramref name="first"/>; identical results.</summary>
    internal (float[] Queries, float[] Keys) Forward(float[] imageTokens, float[] imagePe, int nImage, EfficientSamFirstBlockImage? first,
        ReadOnlySpan<float> pointEmbedding, int nTokens)
    {
        int c = EmbeddingDim;
        if (imageTokens.Length != nImage * c || imagePe.Length != nImage * c || pointEmbedding.Length != nTokens * c)
            throw new ArgumentException("Two-way transformer inputs have inconsistent sizes.");
        float[] queries = pointEmbedding.ToArray();
        float[] keys = imageTokens.ToArray();
        for (int i = 0; i < _layers.Length; i++)
            _layers[i].Forward(queries, keys, pointEmbedding, imagePe, nTokens, nImage, i == 0 ? first : null);
        return Finish(queries, keys, pointEmbedding, imagePe, nTokens, nImage);
    }

    private (float[] Queries, float[] Keys) Finish(float[] queries, float[] keys, ReadOnlySpan<float> pointEmbedding, ReadOnlySpan<float> imagePe,
        int nTokens, int nImage)
    {

        float[] q = EfficientSamOps.Sum(queries, pointEmbedding);
        float[] k = EfficientSamOps.Sum(keys, imagePe);
        float[] attn = _finalAttention.Forward(q, nTokens, k, keys, nImage);
        Elementwise.Add(queries, attn);
        _finalNorm.Apply(queries, nTokens);
        return (queries, keys);
    }
}

/// <summary>
/// <c>TwoWayAttentionBlock</c>: token self-attention, tokens→image cross-attention, token MLP,
/// image→tokens cross-attention, each followed by a residual add and a LayerNorm.
/// </summary>
internal sealed class EfficientSamTwoWayBlock
{
    private const float LayerNormEps = 1e-5f;
    private readonly EfficientSamTwoWayAttention _selfAttention, _tokenToImage, _imageToToken;
    private readonly EfficientSamLayerNorm _norm1, _norm2, _norm3, _norm4;
    private readonly EfficientSamMlp _mlp;
    private readonly bool _skipFirstLayerPe;

    public EfficientSamTwoWayBlock(WeightBinder binder, string prefix, int dim, int numHeads, int mlpDim, int crossDim, bool skipFirstLayerPe)
    {
        _selfAttention = new EfficientSamTwoWayAttention(binder, prefix + ".self_attn", dim, dim, numHeads);
        _norm1 = new EfficientSamLayerNorm(binder, prefix + ".norm1", dim, LayerNormEps);
        _tokenToImage = new EfficientSamTwoWayAttention(binder, prefix + ".cross_attn_token_to_image", dim, crossDim, numHeads);
        _norm2 = new EfficientSamLayerNorm(binder, prefix + ".norm2", dim, LayerNormEps);
        _mlp = new EfficientSamMlp(binder, prefix + ".mlp", dim, mlpDim, dim, numLayers: 1);
        _norm3 = new EfficientSamLayerNorm(binder, prefix + ".norm3", dim, LayerNormEps);
        _norm4 = new EfficientSamLayerNorm(binder, prefix + ".norm4", dim, LayerNormEps);
        _imageToToken = new EfficientSamTwoWayAttention(binder, prefix + ".cross_attn_image_to_token", dim, crossDim, numHeads);
        _skipFirstLayerPe = skipFirstLayerPe;
    }

    /// <summary>Updates <paramref name="queries"/> [nTokens, C] and <paramref name="keys"/> [nImage, C] in place.</summary>
    public EfficientSamFirstBlockImage PrepareImage(float[] keys, float[] keyPe, int nImage)
    {
        float[] k = EfficientSamOps.Sum(keys, keyPe);
        return new EfficientSamFirstBlockImage(_tokenToImage.ProjectK(k, nImage), _tokenToImage.ProjectV(keys, nImage),
            _imageToToken.ProjectQ(k, nImage));
    }

    /// <param name="image">The image-side projections when <paramref name="keys"/> is still that image's embedding.</param>
    public void Forward(float[] queries, float[] keys, ReadOnlySpan<float> queryPe, ReadOnlySpan<float> keyPe, int nTokens, int nImage,
        EfficientSamFirstBlockImage? image)
    {
        if (!_skipFirstLayerPe) Elementwise.Add(queries, queryPe);
        float[] attn = _selfAttention.Forward(queries, nTokens, queries, queries, nTokens);
        Elementwise.Add(queries, attn);
        _norm1.Apply(queries, nTokens);

        // keys do not change until the last step, so keys + key_pe serves both cross-attentions.
        float[]? k = image is null ? EfficientSamOps.Sum(keys, keyPe) : null;
        float[] q = EfficientSamOps.Sum(queries, queryPe);
        attn = image is null ? _tokenToImage.Forward(q, nTokens, k!, keys, nImage)
            : _tokenToImage.Attend(_tokenToImage.ProjectQ(q, nTokens), nTokens, image.TokenToImageK, image.TokenToImageV, nImage);
        Elementwise.Add(queries, attn);
        _norm2.Apply(queries, nTokens);

        float[] mlp = _mlp.Forward(queries, nTokens);
        Elementwise.Add(queries, mlp);
        _norm3.Apply(queries, nTokens);

        q = EfficientSamOps.Sum(queries, queryPe);
        attn = image is null ? _imageToToken.Forward(k!, nImage, q, queries, nTokens)
            : _imageToToken.Attend(image.ImageToTokenQ, nImage, _imageToToken.ProjectK(q, nTokens), _imageToToken.ProjectV(queries, nTokens), nTokens);
        Elementwise.Add(keys, attn);
        _norm4.Apply(keys, nImage);
    }
}

/// <summary>
/// <c>AttentionForTwoWayAttentionBlock</c>: multi-head attention whose q/k/v projections may narrow
/// the embedding (downsample rate), with an output projection back to the embedding width.
/// </summary>
internal sealed class EfficientSamTwoWayAttention
{
    private readonly Linear _q, _k, _v, _out;
    private readonly int _heads, _internalDim;
    private readonly float _scale;

    public EfficientSamTwoWayAttention(WeightBinder binder, string prefix, int embeddingDim, int internalDim, int numHeads)
    {
        if (numHeads <= 0 || internalDim % numHeads != 0)
            throw new CheckpointException($"{prefix}: {numHeads} heads do not divide the attention width {internalDim}.");
        _heads = numHeads;
        _internalDim = internalDim;
        _q = Bind(binder, prefix + ".q_proj", embeddingDim, internalDim);
        _k = Bind(binder, prefix + ".k_proj", embeddingDim, internalDim);
        _v = Bind(binder, prefix + ".v_proj", embeddingDim, internalDim);
        _out = Bind(binder, prefix + ".out_proj", internalDim, embeddingDim);
        _scale = (float)(1.0 / Math.Sqrt((double)internalDim / numHeads));
    }

    private static Linear Bind(WeightBinder binder, string prefix, int fanIn, int fanOut) =>
        new(binder.Take(prefix + ".weight", fanOut, fanIn), binder.Take(prefix + ".bias", fanOut), fanIn, fanOut);

    public float[] Forward(ReadOnlySpan<float> q, int nq, ReadOnlySpan<float> k, ReadOnlySpan<float> v, int nk) =>
        Attend(_q.Forward(q, nq), nq, _k.Forward(k, nk), _v.Forward(v, nk), nk);

    public float[] ProjectQ(ReadOnlySpan<float> x, int rows) => _q.Forward(x, rows);
    public float[] ProjectK(ReadOnlySpan<float> x, int rows) => _k.Forward(x, rows);
    public float[] ProjectV(ReadOnlySpan<float> x, int rows) => _v.Forward(x, rows);

    /// <summary>The attention and output projection of already projected queries, keys and values.</summary>
    public float[] Attend(float[] qp, int nq, float[] kp, float[] vp, int nk)
    {
        var mixed = new float[nq * _internalDim];
        EfficientSamMultiHeadAttention.Run(new(qp, _internalDim, 0), new(kp, _internalDim, 0), new(vp, _internalDim, 0),
            nq, nk, _heads, _internalDim / _heads, _scale, mixed);
        return _out.Forward(mixed, nq);
    }
}

/// <summary>The first two-way block's projections of one image's tokens (see <see cref="EfficientSamTwoWayBlock.PrepareImage"/>).</summary>
internal sealed record EfficientSamFirstBlockImage(float[] TokenToImageK, float[] TokenToImageV, float[] ImageToTokenQ);
