using SegmentAnything.Checkpoints;
using SegmentAnything.Kernels;
using SegmentAnything.Tensors;

namespace SegmentAnything.Modeling;

/// <summary>
/// MobileSAM's image encoder, the official <c>TinyViT</c> (tiny_vit_sam.py) in eval mode: a two-conv
/// patch embedding, an MBConv stage, windowed-attention stages joined by PatchMerging, and SAM's neck
/// (1x1 conv, LayerNorm2d, 3x3 conv, LayerNorm2d). The configuration is read from the checkpoint.
/// </summary>
public sealed class TinyViT : IImageEncoder
{
    public const float NeckLayerNormEps = 1e-6f;

    public int ImageSize { get; }
    public int EmbeddingChannels { get; }
    public int EmbeddingSize { get; }

    /// <summary>Stage widths (the official embed_dims).</summary>
    public IReadOnlyList<int> EmbedDims { get; }
    /// <summary>Blocks per stage (the official depths).</summary>
    public IReadOnlyList<int> Depths { get; }
    /// <summary>Attention heads per stage; 0 for convolutional stages.</summary>
    public IReadOnlyList<int> NumHeads { get; }
    /// <summary>Attention window side per stage; 0 for convolutional stages.</summary>
    public IReadOnlyList<int> WindowSizes { get; }

    private readonly string _prefix;
    private readonly TinyViTConvBN _embed0, _embed1;
    private readonly TinyViTLayer[] _layers;
    private readonly Conv2dChannelsLast _neck0, _neck2;
    private readonly float[] _neck1Weight, _neck1Bias, _neck3Weight, _neck3Bias;

    private TinyViT(string prefix, int imageSize, TinyViTConvBN embed0, TinyViTConvBN embed1, TinyViTLayer[] layers,
        Conv2dChannelsLast neck0, float[] neck1W, float[] neck1B, Conv2dChannelsLast neck2, float[] neck3W, float[] neck3B)
    {
        _prefix = prefix;
        ImageSize = imageSize;
        (_embed0, _embed1, _layers) = (embed0, embed1, layers);
        (_neck0, _neck1Weight, _neck1Bias, _neck2, _neck3Weight, _neck3Bias) = (neck0, neck1W, neck1B, neck2, neck3W, neck3B);
        EmbeddingChannels = neck2.OutChannels;
        EmbedDims = layers.Select(l => l.Dim).ToArray();
        Depths = layers.Select(l => l.Depth).ToArray();
        NumHeads = layers.Select(l => l.IsConvLayer ? 0 : l.Blocks[0].Attention.Heads).ToArray();
        WindowSizes = layers.Select(l => l.IsConvLayer ? 0 : l.Blocks[0].Attention.WindowSize).ToArray();
        var (h, w) = PatchGrid(imageSize);
        foreach (var layer in layers) (h, w) = layer.OutputSize(h, w);
        if (h != w || h <= 0) throw new CheckpointException($"TinyViT at {imageSize} pixels ends on a {h}x{w} grid; the neck needs a square one.");
        EmbeddingSize = h;
    }

    /// <summary>
    /// Builds the encoder from the tensors under <paramref name="prefix"/>, inferring embed dims, depths,
    /// heads, window sizes and neck widths from their names and shapes. Every tensor is bound through
    /// <paramref name="w"/>; the classification head (<c>norm_head</c>, <c>head</c>), unused by SAM, is
    /// accepted and ignored. The caller calls <see cref="WeightBinder.Complete"/>.
    /// </summary>
    public static TinyViT Load(WeightBinder w, string prefix = "image_encoder.", int imageSize = 1024)
    {
        StateDict d = w.Dict;
        var stem0 = Shape4(d, prefix + "patch_embed.seq.0.c.weight");
        var stem1 = Shape4(d, prefix + "patch_embed.seq.2.c.weight");
        if (stem0[1] != 3) throw new CheckpointException($"{d.Source}: TinyViT patch embedding takes {stem0[1]} input channels; images have 3.");
        int half = stem0[0], dim0 = stem1[0];
        var embed0 = TinyViTConvBN.Load(w, prefix + "patch_embed.seq.0", 3, half, stem0[2], 2, stem0[2] / 2, 1, planarInput: true);
        var embed1 = TinyViTConvBN.Load(w, prefix + "patch_embed.seq.2", half, dim0, stem1[2], 2, stem1[2] / 2, 1);

        var layers = new List<TinyViTLayer>();
        int dim = dim0;
        while (TinyViTLayer.HasPrefix(d, $"{prefix}layers.{layers.Count}."))
        {
            var layer = TinyViTLayer.Load(w, $"{prefix}layers.{layers.Count}", dim);
            layers.Add(layer);
            dim = layer.OutDim;
        }
        if (layers.Count == 0) throw new CheckpointException($"{d.Source}: no TinyViT layers under '{prefix}layers.'.");

        var neckIn = Shape4(d, prefix + "neck.0.weight");
        int outC = neckIn[0];
        var neck0 = new Conv2dChannelsLast(w.Take(prefix + "neck.0.weight", outC, dim, 1, 1), null, dim, outC, 1, 1);
        float[] n1w = w.Take(prefix + "neck.1.weight", outC), n1b = w.Take(prefix + "neck.1.bias", outC);
        var neck2 = new Conv2dChannelsLast(w.Take(prefix + "neck.2.weight", outC, outC, 3, 3), null, outC, outC, 3, 3, 1, 1);
        float[] n3w = w.Take(prefix + "neck.3.weight", outC), n3b = w.Take(prefix + "neck.3.bias", outC);
        w.Ignore(prefix + "norm_head.");
        w.Ignore(prefix + "head.");
        return new TinyViT(prefix, imageSize, embed0, embed1, layers.ToArray(), neck0, n1w, n1b, neck2, n3w, n3b);
    }

    private static int[] Shape4(StateDict d, string name)
    {
        var t = d.Get(name) ?? throw new CheckpointException($"{d.Source}: missing {name}; not a TinyViT checkpoint?");
        if (t.Shape.Length != 4 || t.Shape.Any(s => s <= 0))
            throw new CheckpointException($"{d.Source}: {name} has shape [{string.Join(", ", t.Shape)}]; expected a 4-D convolution weight.");
        return t.Shape;
    }

    private (int H, int W) PatchGrid(int size)
    {
        var (h, w) = _embed0.OutputSize(size, size);
        return _embed1.OutputSize(h, w);
    }

    /// <summary>image: normalised, padded [3, S, S] (or [1, 3, S, S]); returns [EmbeddingChannels, EmbeddingSize, EmbeddingSize].</summary>
    public Tensor Forward(Tensor image, ActivationRecorder? recorder = null)
    {
        int s = ImageSize;
        bool ok = image.Shape.SequenceEqual(new[] { 3, s, s }) || image.Shape.SequenceEqual(new[] { 1, 3, s, s });
        if (!ok) throw new ArgumentException($"TinyViT expects a [3, {s}, {s}] image, got [{string.Join(", ", image.Shape)}].");

        var (h1, w1) = _embed0.OutputSize(s, s);
        // Everything runs channels-last from the first convolution on (it reads the planar image).
        float[] t = GC.AllocateUninitializedArray<float>(h1 * w1 * _embed0.OutChannels);
        _embed0.ForwardChannelsLast(image.Data, s, s, t, gelu: true);
        var (h, w) = _embed1.OutputSize(h1, w1);
        float[] t1 = GC.AllocateUninitializedArray<float>(h * w * _embed1.OutChannels);
        _embed1.ForwardChannelsLast(t, h1, w1, t1);
        var x = new TinyViTFeatures(t1, _embed1.OutChannels, h, w, ConvMap: true);
        recorder?.Record(_prefix + "patch_embed", x.OfficialData, x.OfficialShape);

        for (int i = 0; i < _layers.Length; i++)
        {
            x = _layers[i].Forward(x);
            recorder?.Record($"{_prefix}layers.{i}", x.OfficialData, x.OfficialShape);
        }

        int pixels = x.H * x.W, c = EmbeddingChannels;
        // LayerNorm2d normalises each pixel over its channels: a row LayerNorm in channels-last.
        float[] y0 = GC.AllocateUninitializedArray<float>(pixels * c);
        _neck0.Forward(x.Data, x.H, x.W, y0);
        Normalization.LayerNorm(y0, pixels, c, _neck1Weight, _neck1Bias, NeckLayerNormEps);
        float[] y1 = GC.AllocateUninitializedArray<float>(pixels * c);
        _neck2.Forward(y0, x.H, x.W, y1);
        Normalization.LayerNorm(y1, pixels, c, _neck3Weight, _neck3Bias, NeckLayerNormEps);
        float[] y = TinyViTLayout.Transpose(y1, pixels, c);
        recorder?.Record(_prefix + "neck", y, 1, c, x.H, x.W);
        return new Tensor(y, c, x.H, x.W);
    }
}
