using SegmentAnything.Checkpoints;
using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>Low-resolution mask logits [masks, 4h, 4w] and predicted IoUs [masks] for one prompt.</summary>
public sealed record MaskPrediction(float[] LowResLogits, float[] Iou, int MaskCount, int Height, int Width);

/// <summary>
/// The official SAM mask decoder: a two-way transformer over [IoU token, mask tokens, prompt tokens]
/// and the image embedding, transposed-conv upscaling, hypernetwork MLPs and an IoU head.
/// </summary>
public sealed partial class MaskDecoder
{
    private readonly TwoWayTransformer _transformer;
    private readonly float[] _iouToken, _maskTokens;
    private readonly ConvTranspose2x2 _up1, _up2;
    private readonly LayerNormParams _upNorm;
    private readonly MaskDecoderUpscaler _upscaler;
    private readonly MaskDecoderKeyProduct _keyProduct;
    private readonly Mlp[] _hyper;
    private readonly Mlp _iouHead;

    public int Dim { get; }
    public int NumMaskTokens { get; }

    private MaskDecoder(WeightBinder w, string p)
    {
        var d = w.Dict;
        Dim = d.Get(p + "iou_token.weight")?.Shape[^1] ?? d.Get(p + "transformer.norm_final_attn.weight")?.Shape[0] ?? throw new CheckpointException($"{d.Source}: no {p}iou_token.weight; not a SAM mask decoder.");
        NumMaskTokens = d.Get(p + "mask_tokens.weight")?.Shape[0] ?? 4;
        int dim = Dim;
        _transformer = TwoWayTransformer.Load(w, p + "transformer.", dim);
        _iouToken = w.Take(p + "iou_token.weight", 1, dim);
        _maskTokens = w.Take(p + "mask_tokens.weight", NumMaskTokens, dim);
        float[] w1 = w.Take(p + "output_upscaling.0.weight", dim, dim / 4, 2, 2), b1 = w.Take(p + "output_upscaling.0.bias", dim / 4);
        float[] w2 = w.Take(p + "output_upscaling.3.weight", dim / 4, dim / 8, 2, 2), b2 = w.Take(p + "output_upscaling.3.bias", dim / 8);
        _up1 = new ConvTranspose2x2(w1, b1, dim, dim / 4);
        _upNorm = LayerNormParams.Load(w, p + "output_upscaling.1", dim / 4, 1e-6f);
        _up2 = new ConvTranspose2x2(w2, b2, dim / 4, dim / 8);
        _upscaler = new MaskDecoderUpscaler(w1, b1, w2, b2, _upNorm, dim, dim / 4, dim / 8);
        var blocks = new (LayerNormParams, float[])[_transformer.Depth];
        for (int i = 0; i < blocks.Length; i++) blocks[i] = _transformer.ImageUpdate(i);
        _keyProduct = new MaskDecoderKeyProduct(_upscaler.FirstWeight, _upscaler.FirstBias, dim, _upscaler.FirstWidth, blocks);
        _hyper = new Mlp[NumMaskTokens];
        for (int i = 0; i < NumMaskTokens; i++) _hyper[i] = Mlp.Load(w, $"{p}output_hypernetworks_mlps.{i}");
        _iouHead = Mlp.Load(w, p + "iou_prediction_head");
    }

    public static MaskDecoder Load(WeightBinder w, string prefix = "mask_decoder.") => new(w, prefix);

    /// <summary>
    /// Decodes one prompt. <paramref name="imageEmbedding"/> and <paramref name="dense"/> are
    /// channel-planar [dim, h, w]; <paramref name="imagePe"/> likewise; sparse is [tokens, dim].
    /// Returns all mask tokens' outputs (selection of single/multi mask is the caller's).
    /// </summary>
    public MaskPrediction PredictMasks(float[] imageEmbedding, float[] imagePe, float[] sparse, int sparseTokens, float[] dense, int h, int w,
        ActivationRecorder? recorder = null, DecoderTrace? trace = null)
    {
        int dim = Dim, hw = h * w, nt = 1 + NumMaskTokens + sparseTokens;
        var tokens = new float[nt * dim];
        _iouToken.CopyTo(tokens, 0);
        _maskTokens.CopyTo(tokens, dim);
        sparse.AsSpan(0, sparseTokens * dim).CopyTo(tokens.AsSpan((1 + NumMaskTokens) * dim));

        var (src, pos) = TokenMajorInputs(imageEmbedding, imagePe, dense, hw);
        var srcPlanar = new float[dim * hw];

        var (hs, keys) = _transformer.Forward(tokens, src, pos, nt, hw);
        trace?.Transformer.Add(hs);

        ImageEncoderViT.Transpose(keys, srcPlanar, hw, dim);
        float[] up = _up1.Forward(srcPlanar, h, w);
        _upNorm.Apply2d(up, 4 * hw);
        Activations.Gelu(up);
        up = _up2.Forward(up, 2 * h, 2 * w);
        Activations.Gelu(up);
        trace?.Upscaling.Add(up);

        int c8 = dim / 8, pixels = 16 * hw;
        var hyperIn = new float[NumMaskTokens * c8];
        for (int i = 0; i < NumMaskTokens; i++)
            _hyper[i].Forward(hs.AsSpan((1 + i) * dim, dim)).CopyTo(hyperIn, i * c8);
        var masks = new float[NumMaskTokens * pixels];
        Gemm.MatMul(hyperIn, up, masks, NumMaskTokens, c8, pixels);
        float[] iou = _iouHead.Forward(hs.AsSpan(0, dim));
        return new MaskPrediction(masks, iou, NumMaskTokens, 4 * h, 4 * w);
    }
}

/// <summary>Collects decoder intermediates across a batch, for parity checks against debug.* tensors.</summary>
public sealed class DecoderTrace
{
    public List<float[]> Sparse { get; } = [];
    public List<float[]> Transformer { get; } = [];
    public List<float[]> Upscaling { get; } = [];
}

/// <summary>The decoder's MLP: Linear layers with ReLU between them.</summary>
internal sealed class Mlp(Linear[] layers)
{
    public static Mlp Load(WeightBinder w, string p)
    {
        int n = Layers.CountChildren(w.Dict, p + ".layers");
        if (n == 0) throw new CheckpointException($"{w.Dict.Source}: no {p}.layers.N found.");
        var layers = new Linear[n];
        for (int i = 0; i < n; i++)
        {
            string name = $"{p}.layers.{i}";
            layers[i] = Layers.Linear(w, name, Layers.InFeatures(w.Dict, name), Layers.OutFeatures(w.Dict, name));
        }
        for (int i = 1; i < n; i++)
            if (layers[i].InFeatures != layers[i - 1].OutFeatures)
                throw new CheckpointException($"{w.Dict.Source}: {p}.layers.{i} takes {layers[i].InFeatures} inputs but the previous layer gives {layers[i - 1].OutFeatures}.");
        return new Mlp(layers);
    }

    public float[] Forward(ReadOnlySpan<float> x) => Forward(x, 1);

    /// <summary><paramref name="rows"/> independent inputs [rows, in] at once.</summary>
    public float[] Forward(ReadOnlySpan<float> x, int rows)
    {
        float[] h = x.ToArray();
        for (int i = 0; i < layers.Length; i++)
        {
            h = layers[i].Forward(h, rows);
            if (i < layers.Length - 1) Activations.Relu(h);
        }
        return h;
    }

    /// <summary><see cref="Forward(ReadOnlySpan{float}, int)"/> with every layer's output rented from <see cref="TokenArena"/>.</summary>
    public float[] ForwardRented(ReadOnlySpan<float> x, int rows)
    {
        float[]? h = null;
        for (int i = 0; i < layers.Length; i++)
        {
            h = TokenArena.Forward(layers[i], i == 0 ? x : h, rows);
            if (i < layers.Length - 1) Activations.Relu(h);
        }
        return h!;
    }
}
