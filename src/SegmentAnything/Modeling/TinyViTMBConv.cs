using System.Numerics;
using SegmentAnything.Checkpoints;
using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>
/// TinyViT's inverted-residual <c>MBConv</c>: 1x1 expand, GELU, depthwise 3x3, GELU, 1x1 project,
/// add the input, GELU (the last activation comes after the residual). Channels-last [H·W, C] in and out.
/// </summary>
internal sealed class TinyViTMBConv
{
    public int Channels { get; }
    public int Hidden { get; }
    private readonly TinyViTConvBN _conv1, _conv2, _conv3;

    private TinyViTMBConv(int channels, int hidden, TinyViTConvBN conv1, TinyViTConvBN conv2, TinyViTConvBN conv3)
    {
        (Channels, Hidden, _conv1, _conv2, _conv3) = (channels, hidden, conv1, conv2, conv3);
    }

    public static TinyViTMBConv Load(WeightBinder w, string name, int channels)
    {
        var hiddenWeight = w.Dict.Get(name + ".conv1.c.weight")
            ?? throw new CheckpointException($"{w.Dict.Source}: missing {name}.conv1.c.weight.");
        int hidden = hiddenWeight.Shape.Length == 4 ? hiddenWeight.Shape[0] : throw new CheckpointException($"{name}.conv1.c.weight is not 4-D.");
        int dwKernel = KernelOf(w, name + ".conv2.c.weight", 3);
        var conv1 = TinyViTConvBN.Load(w, name + ".conv1", channels, hidden, 1, 1, 0, 1);
        var conv2 = TinyViTConvBN.Load(w, name + ".conv2", hidden, hidden, dwKernel, 1, dwKernel / 2, hidden);
        var conv3 = TinyViTConvBN.Load(w, name + ".conv3", hidden, channels, 1, 1, 0, 1);
        return new TinyViTMBConv(channels, hidden, conv1, conv2, conv3);
    }

    internal static int KernelOf(WeightBinder w, string name, int fallback)
    {
        var t = w.Dict.Get(name);
        return t is { Shape.Length: 4 } && t.Shape[2] == t.Shape[3] && t.Shape[2] % 2 == 1 ? t.Shape[2] : fallback;
    }

    public float[] Forward(float[] x, int h, int w)
    {
        int pixels = h * w;
        if (x.Length != pixels * Channels) throw new ArgumentException("MBConv input has the wrong size.");
        int c = Channels, hid = Hidden;
        // The depthwise conv needs its neighbours' hidden rows, so the expansion runs over the whole map
        // first (band by band, GELU while in cache); then each band goes depthwise → project → residual.
        float[] t = GC.AllocateUninitializedArray<float>(pixels * hid);
        TinyViTBands.Run(h, w, (r0, r1) =>
        {
            int p0 = r0 * w, n = (r1 - r0) * w;
            _conv1.ForwardChannelsLast(x.AsSpan(p0 * c, n * c), 1, n, t.AsSpan(p0 * hid, n * hid), gelu: true);
        });
        float[] y = GC.AllocateUninitializedArray<float>(pixels * c);
        TinyViTBands.Run(h, w, (r0, r1) =>
        {
            int p0 = r0 * w, n = (r1 - r0) * w;
            float[] u = TinyViTBands.Scratch(0, n * hid);
            _conv2.DepthwiseRows(t, h, w, u, r0, r1, gelu: true);
            Span<float> ys = y.AsSpan(p0 * c, n * c);
            _conv3.ForwardChannelsLast(u.AsSpan(0, n * hid), 1, n, ys);
            AddInPlace(ys, x.AsSpan(p0 * c, n * c));
            Activations.Gelu(ys);
        });
        return y;
    }

    internal static void AddInPlace(Span<float> y, ReadOnlySpan<float> x)
    {
        int i = 0, vw = Vector<float>.Count;
        for (; i <= y.Length - vw; i += vw) (new Vector<float>(y.Slice(i)) + new Vector<float>(x.Slice(i))).CopyTo(y.Slice(i));
        for (; i < y.Length; i++) y[i] += x[i];
    }
}
