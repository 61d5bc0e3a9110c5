using System.Numerics;
using System.Runtime.InteropServices;
using SegmentAnything.Checkpoints;
using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>
/// EfficientSAM's <c>MaskDecoder</c> (efficient_sam_decoder.py): an IoU token and mask tokens join
/// the prompt tokens in the two-way transformer; the image tokens are upscaled by transposed
/// convolutions (GroupNorm between them, GELU after each), and each mask token's hypernetwork MLP
/// turns it into per-pixel weights over the upscaled channels.
/// </summary>
public sealed class EfficientSamMaskDecoder
{
    private readonly float[] _iouToken;   // [1, C]
    private readonly float[] _maskTokens; // [NumMaskTokens, C]
    private readonly EfficientSamUpscalingLayer[] _upscaling;
    private readonly EfficientSamMlp[] _hypernetworks;
    private readonly EfficientSamMlp _iouHead;

    [ThreadStatic] private static EfficientSamScratch? _buffers;

    public EfficientSamTwoWayTransformer Transformer { get; }
    public int TransformerDim { get; }
    public int NumMaskTokens { get; }
    /// <summary>Masks returned per query in multimask mode (the official model always uses it).</summary>
    public int NumMultimaskOutputs => NumMaskTokens > 1 ? NumMaskTokens - 1 : 1;

    public EfficientSamMaskDecoder(WeightBinder binder, string prefix, EfficientSamMaskDecoderConfig config)
    {
        int c = config.TransformerDim;
        TransformerDim = c;
        NumMaskTokens = config.NumMaskTokens;
        Transformer = new EfficientSamTwoWayTransformer(binder, prefix + ".transformer", c, config.TransformerDepth,
            config.NumHeads, config.TransformerMlpDim, config.CrossAttentionDim);
        _iouToken = binder.Take(prefix + ".iou_token.weight", 1, c);
        _maskTokens = binder.Take(prefix + ".mask_tokens.weight", NumMaskTokens, c);

        _upscaling = new EfficientSamUpscalingLayer[config.UpscalingDims.Length];
        int channels = c;
        for (int i = 0; i < _upscaling.Length; i++)
        {
            bool last = i == _upscaling.Length - 1;
            _upscaling[i] = new EfficientSamUpscalingLayer(binder, $"{prefix}.final_output_upscaling_layers.{i}", channels,
                config.UpscalingDims[i], groupNorm: !last);
            channels = config.UpscalingDims[i];
        }

        _hypernetworks = new EfficientSamMlp[NumMaskTokens];
        for (int i = 0; i < NumMaskTokens; i++)
            _hypernetworks[i] = new EfficientSamMlp(binder, $"{prefix}.output_hypernetworks_mlps.{i}", c, c, channels, numLayers: 2);
        _iouHead = new EfficientSamMlp(binder, prefix + ".iou_prediction_head", c, config.IouHeadHiddenDim, NumMaskTokens,
            config.IouHeadLayers);
    }

    /// <summary>
    /// Decodes one query (<c>predict_masks</c> for one batch element).
    /// </summary>
    /// <param name="imageTokens">The image embedding as tokens [h·w, C].</param>
    /// <param name="imagePeTokens">The dense positional encoding as tokens [h·w, C].</param>
    /// <param name="embeddingSize">The side h = w of the embedding grid.</param>
    /// <param name="sparse">The prompt embeddings [nPoints, C].</param>
    /// <returns>Mask logits for every mask token [NumMaskTokens, H, W] (H = W = embeddingSize·2^layers),
    /// their side, and the IoU predictions [NumMaskTokens].</returns>
    public (float[] Masks, int MaskSize, float[] Iou) PredictMasks(ReadOnlySpan<float> imageTokens, ReadOnlySpan<float> imagePeTokens,
        int embeddingSize, ReadOnlySpan<float> sparse, int nPoints)
    {
        var (masks, side, iou) = PredictMasks(imageTokens.ToArray(), imagePeTokens.ToArray(), null, embeddingSize, sparse, nPoints);
        return (masks.ToArray(), side, iou);
    }

    /// <summary>The first two-way block's prompt-independent projections of one image's tokens [h·w, C].</summary>
    internal EfficientSamFirstBlockImage? PrepareImage(float[] imageTokens, float[] imagePeTokens, int embeddingSize) =>
        Transformer.PrepareImage(imageTokens, imagePeTokens, embeddingSize * embeddingSize);

    /// <param name="first">The image's <see cref="PrepareImage"/>, or null to compute it within.</param>
    /// <returns>As the public overload, but the masks live in this thread's scratch until its next call.</returns>
    internal (float[] Masks, int MaskSize, float[] Iou) PredictMasks(float[] imageTokens, float[] imagePeTokens, EfficientSamFirstBlockImage? first,
        int embeddingSize, ReadOnlySpan<float> sparse, int nPoints)
    {
        int c = TransformerDim;
        int nOutput = 1 + NumMaskTokens;
        int nTokens = nOutput + nPoints;
        var tokens = new float[nTokens * c];
        _iouToken.CopyTo(tokens, 0);
        _maskTokens.CopyTo(tokens, c);
        sparse.CopyTo(tokens.AsSpan(nOutput * c));

        int pixels = embeddingSize * embeddingSize;
        var (hs, src) = first is null ? Transformer.Forward(imageTokens, imagePeTokens, pixels, tokens, nTokens)
            : Transformer.Forward(imageTokens, imagePeTokens, pixels, first, tokens, nTokens);

        // The upscaling chain's maps (megabytes per query) live in per-thread buffers reused by every query.
        var buffers = _buffers ??= new EfficientSamScratch();
        float[] upscaled = buffers.Get(0, pixels * c);
        EfficientSamOps.Transpose(src, upscaled, pixels, c);
        int side = embeddingSize;
        for (int i = 0; i < _upscaling.Length; i++)
        {
            var layer = _upscaling[i];
            int outLength = layer.OutChannels * 4 * side * side;
            float[] output = buffers.Get(2 * i + 1, outLength);
            layer.Forward(upscaled, side, side, output, buffers.Get(2 * i + 2, outLength));
            upscaled = output;
            side *= 2;
        }
        int outChannels = _upscaling.Length > 0 ? _upscaling[^1].OutChannels : c;

        var hyper = new float[NumMaskTokens * outChannels];
        for (int i = 0; i < NumMaskTokens; i++)
            _hypernetworks[i].Forward(hs.AsSpan((1 + i) * c, c), 1).CopyTo(hyper, i * outChannels);
        var masks = buffers.Get(2 * _upscaling.Length + 1, NumMaskTokens * side * side);
        Gemm.MatMul(hyper, upscaled.AsSpan(0, outChannels * side * side), masks, NumMaskTokens, outChannels, side * side);

        float[] iou = _iouHead.Forward(hs.AsSpan(0, c), 1);
        return (masks, side, iou);
    }
}

/// <summary>The decoder's hyper-parameters, as inferred from a checkpoint.</summary>
/// <summary>Exactly sized float buffers by slot, one set per thread: the sizes repeat for every query of a model.</summary>
internal sealed class EfficientSamScratch
{
    private float[][] _slots = [];

    public float[] Get(int slot, int length)
    {
        if (slot >= _slots.Length) Array.Resize(ref _slots, slot + 1);
        var b = _slots[slot];
        if (b is null || b.Length != length) _slots[slot] = b = GC.AllocateUninitializedArray<float>(length);
        return b;
    }
}

public sealed record EfficientSamMaskDecoderConfig(
    int TransformerDim,
    int TransformerDepth,
    int NumHeads,
    int TransformerMlpDim,
    int CrossAttentionDim,
    int NumMaskTokens,
    int[] UpscalingDims,
    int IouHeadLayers,
    int IouHeadHiddenDim);

/// <summary>
/// One <c>final_output_upscaling_layers.i</c>: ConvTranspose2d(kernel 2, stride 2), GroupNorm(1, C)
/// except after the last one, then GELU.
/// </summary>
internal sealed class EfficientSamUpscalingLayer
{
    private const float GroupNormEps = 1e-5f;
    private readonly ConvTranspose2x2 _conv;
    private readonly float[]? _normWeight, _normBias;

    public int InChannels => _conv.InChannels;
    public int OutChannels => _conv.OutChannels;

    public EfficientSamUpscalingLayer(WeightBinder binder, string prefix, int inChannels, int outChannels, bool groupNorm)
    {
        _conv = new ConvTranspose2x2(binder.Take(prefix + ".0.weight", inChannels, outChannels, 2, 2), binder.Take(prefix + ".0.bias", outChannels),
            inChannels, outChannels);
        if (groupNorm)
        {
            _normWeight = binder.Take(prefix + ".1.weight", outChannels);
            _normBias = binder.Take(prefix + ".1.bias", outChannels);
        }
    }

    /// <param name="input">[Cin, h, w].</param>
    /// <returns>[Cout, 2h, 2w].</returns>
    public float[] Forward(float[] input, int h, int w)
    {
        int length = OutChannels * 4 * h * w;
        var output = GC.AllocateUninitializedArray<float>(length);
        Forward(input, h, w, output, GC.AllocateUninitializedArray<float>(length));
        return output;
    }

    /// <summary>Into <paramref name="output"/> of exactly out·4·h·w values, with a scratch of as many.</summary>
    public void Forward(float[] input, int h, int w, float[] output, float[] scratch)
    {
        _conv.Forward(input, h, w, tokenMajor: false, output, scratch);
        int pixels = 4 * h * w;
        if (_normWeight is not null) GroupNormOneGroup(output, OutChannels, pixels, _normWeight, _normBias!);
        Activations.Gelu(output);
    }

    /// <summary>GroupNorm with a single group: statistics over the whole map, affine per channel.</summary>
    private static void GroupNormOneGroup(float[] x, int channels, int pixels, float[] weight, float[] bias)
    {
        double mean = EfficientSamOps.Sum(x) / x.Length;
        double variance = EfficientSamOps.SumSquaredDeviations(x, (float)mean) / x.Length;
        double rstd = 1.0 / Math.Sqrt(variance + GroupNormEps);
        KernelParallel.For(channels, KernelParallel.MaxThreads, c =>
        {
            float scale = (float)(rstd * weight[c]);
            float shift = (float)(bias[c] - rstd * weight[c] * mean);
            var plane = x.AsSpan(c * pixels, pixels);
            var vp = MemoryMarshal.Cast<float, Vector<float>>(plane);
            var vs = new Vector<float>(scale);
            var vb = new Vector<float>(shift);
            for (int i = 0; i < vp.Length; i++) vp[i] = vp[i] * vs + vb;
            for (int i = vp.Length * Vector<float>.Count; i < plane.Length; i++) plane[i] = plane[i] * scale + shift;
        });
    }
}
