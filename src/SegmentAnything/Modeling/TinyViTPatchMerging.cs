using SegmentAnything.Checkpoints;
using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>
/// TinyViT's <c>PatchMerging</c> downsample: 1x1, GELU, depthwise 3x3, GELU, 1x1, then flattened to
/// tokens [H'·W', out]; runs channels-last throughout. The official code strides the depthwise conv by 2 except when the output
/// width is 320, 448 or 576 (the last stage of the 5M/11M/21M models), which keeps the resolution.
/// </summary>
internal sealed class TinyViTPatchMerging
{
    public int InChannels { get; }
    public int OutChannels { get; }
    public int Stride { get; }
    private readonly TinyViTConvBN _conv1, _conv2, _conv3;

    private TinyViTPatchMerging(int inChannels, int outChannels, int stride, TinyViTConvBN c1, TinyViTConvBN c2, TinyViTConvBN c3)
    {
        (InChannels, OutChannels, Stride, _conv1, _conv2, _conv3) = (inChannels, outChannels, stride, c1, c2, c3);
    }

    public static int StrideFor(int outChannels) => outChannels is 320 or 448 or 576 ? 1 : 2;

    public static TinyViTPatchMerging Load(WeightBinder w, string name, int inChannels, int outChannels)
    {
        int stride = StrideFor(outChannels);
        var c1 = TinyViTConvBN.Load(w, name + ".conv1", inChannels, outChannels, 1, 1, 0, 1);
        var c2 = TinyViTConvBN.Load(w, name + ".conv2", outChannels, outChannels, 3, stride, 1, outChannels);
        var c3 = TinyViTConvBN.Load(w, name + ".conv3", outChannels, outChannels, 1, 1, 0, 1);
        return new TinyViTPatchMerging(inChannels, outChannels, stride, c1, c2, c3);
    }

    public (int H, int W) OutputSize(int h, int w) => _conv2.OutputSize(h, w);

    /// <summary>Tokens [h·w, Cin] in; tokens [oh·ow, Cout] out.</summary>
    public float[] Forward(float[] tokens, int h, int w)
    {
        if (tokens.Length != h * w * InChannels) throw new ArgumentException("PatchMerging input has the wrong size.");
        int cin = InChannels, c = OutChannels;
        float[] t = GC.AllocateUninitializedArray<float>(h * w * c);
        TinyViTBands.Run(h, w, (r0, r1) =>
        {
            int p0 = r0 * w, n = (r1 - r0) * w;
            _conv1.ForwardChannelsLast(tokens.AsSpan(p0 * cin, n * cin), 1, n, t.AsSpan(p0 * c, n * c), gelu: true);
        });
        var (oh, ow) = _conv2.OutputSize(h, w);
        float[] y = GC.AllocateUninitializedArray<float>(oh * ow * c);
        TinyViTBands.Run(oh, ow, (r0, r1) =>
        {
            int p0 = r0 * ow, n = (r1 - r0) * ow;
            float[] u = TinyViTBands.Scratch(0, n * c);
            _conv2.DepthwiseRows(t, h, w, u, r0, r1, gelu: true);
            _conv3.ForwardChannelsLast(u.AsSpan(0, n * c), 1, n, y.AsSpan(p0 * c, n * c));
        });
        return y;
    }
}
