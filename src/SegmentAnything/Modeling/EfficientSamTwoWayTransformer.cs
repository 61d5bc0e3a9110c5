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
        // The image-side maps (megabytes per query) live in this thread's scratch: the returned keys are
        // valid until this thread's next call, which is all the decoder needs.
        var scratch = _scratch ??= new EfficientSamScratch();
        float[] keys = scratch.Get(EfficientSamTwoWayAttention.KeysSlot, imageTokens.Length);
        imageTokens.CopyTo(keys, 0);
        for (int i = 0; i < _layers.Length; i++)
            _layers[i].Forward(queries, keys, pointEmbedding, imagePe, nTokens, nImage, i == 0 ? first : null, scratch);
        return Finish(queries, keys, pointEmbedding, imagePe, nTokens, nImage, scratch);
    }

    [ThreadStatic] private static EfficientSamScratch? _scratch;

    private (float[] Queries, float[] Keys) Finish(float[] queries, float[] keys, ReadOnlySpan<float> pointEmbedding, ReadOnlySpan<float> imagePe,
        int nTokens, int nImage, EfficientSamScratch? scratch = null)
    {

        float[] q = EfficientSamOps.Sum(queries, pointEmbedding);
        float[] k = EfficientSamTwoWayAttention.Sum(keys, imagePe, scratch);
        float[] attn = _finalAttention.Forward(q, nTokens, k, keys, nImage, scratch);
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
        EfficientSamFirstBlockImage? image, EfficientSamScratch? scratch = null)
    {
        if (!_skipFirstLayerPe) Elementwise.Add(queries, queryPe);
        float[] attn = _selfAttention.Forward(queries, nTokens, queries, queries, nTokens);
        Elementwise.Add(queries, attn);
        _norm1.Apply(queries, nTokens);

        // keys do not change until the last step, so keys + key_pe serves both cross-attentions.
        float[]? k = image is null ? EfficientSamTwoWayAttention.Sum(keys, keyPe, scratch) : null;
        float[] q = EfficientSamOps.Sum(queries, queryPe);
        attn = image is null ? _tokenToImage.Forward(q, nTokens, k!, keys, nImage, scratch)
            : _tokenToImage.Attend(_tokenToImage.ProjectQ(q, nTokens), nTokens, image.TokenToImageK, image.TokenToImageV, nImage);
        Elementwise.Add(queries, attn);
        _norm2.Apply(queries, nTokens);

        float[] mlp = _mlp.Forward(queries, nTokens);
        Elementwise.Add(queries, mlp);
        _norm3.Apply(queries, nTokens);

        q = EfficientSamOps.Sum(queries, queryPe);
        attn = image is null ? _imageToToken.Forward(k!, nImage, q, queries, nTokens, scratch)
            : _imageToToken.Attend(image.ImageToTokenQ, nImage, _imageToToken.ProjectK(q, nTokens), _imageToToken.ProjectV(queries, nTokens), nTokens, scratch);
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

    // Scratch slots of the image-side maps; each is used by one step at a time and always with the same size.
    internal const int KeysSlot = 0, KeysPlusPeSlot = 1, KeySlot = 2, ValueSlot = 3, QuerySlot = 4, MixedSlot = 5, OutSlot = 6;

    /// <summary>
    /// <see cref="Forward(ReadOnlySpan{float}, int, ReadOnlySpan{float}, ReadOnlySpan{float}, int)"/> with the image side
    /// (whichever of nq and nk is the larger) projected into <paramref name="scratch"/>; a result of nq image rows
    /// lives there too, until the next call.
    /// </summary>
    public float[] Forward(ReadOnlySpan<float> q, int nq, ReadOnlySpan<float> k, ReadOnlySpan<float> v, int nk, EfficientSamScratch? scratch)
    {
        if (scratch is null) return Forward(q, nq, k, v, nk);
        bool imageKeys = nk >= nq;
        float[] qp = imageKeys ? _q.Forward(q, nq) : Project(_q, q, nq, scratch, QuerySlot);
        float[] kp = imageKeys ? Project(_k, k, nk, scratch, KeySlot) : _k.Forward(k, nk);
        float[] vp = imageKeys ? Project(_v, v, nk, scratch, ValueSlot) : _v.Forward(v, nk);
        return Attend(qp, nq, kp, vp, nk, imageKeys ? null : scratch);
    }

    private static float[] Project(Linear linear, ReadOnlySpan<float> x, int rows, EfficientSamScratch scratch, int slot)
    {
        float[] y = scratch.Get(slot, rows * linear.OutFeatures);
        linear.Forward(x, y, rows);
        return y;
    }

    /// <summary>a + b, into the scratch when there is one.</summary>
    internal static float[] Sum(float[] a, ReadOnlySpan<float> b, EfficientSamScratch? scratch)
    {
        if (scratch is null) return EfficientSamOps.Sum(a, b);
        float[] dst = scratch.Get(KeysPlusPeSlot, a.Length);
        Elementwise.Add(a, b, dst);
        return dst;
    }

    public float[] ProjectQ(ReadOnlySpan<float> x, int rows) => _q.Forward(x, rows);
    public float[] ProjectK(ReadOnlySpan<float> x, int rows) => _k.Forward(x, rows);
    public float[] ProjectV(ReadOnlySpan<float> x, int rows) => _v.Forward(x, rows);

    /// <summary>The attention and output projection of already projected queries, keys and values.</summary>
    /// <param name="scratch">Where the mixed heads and the result go when the queries are the image side; null: new arrays.</param>
    public float[] Attend(float[] qp, int nq, float[] kp, float[] vp, int nk, EfficientSamScratch? scratch = null)
    {
        var mixed = scratch?.Get(MixedSlot, nq * _internalDim) ?? new float[nq * _internalDim];
        EfficientSamMultiHeadAttention.Run(new(qp, _internalDim, 0), new(kp, _internalDim, 0), new(vp, _internalDim, 0),
            nq, nk, _heads, _internalDim / _heads, _scale, mixed);
        if (scratch is null) return _out.Forward(mixed, nq);
        return Project(_out, mixed, nq, scratch, OutSlot);
    }
}

/// <summary>The first two-way block's projections of one image's tokens (see <see cref="EfficientSamTwoWayBlock.PrepareImage"/>).</summary>
internal sealed record EfficientSamFirstBlockImage(float[] TokenToImageK, float[] TokenToImageV, float[] ImageToTokenQ);
