using System.Numerics;
using SegmentAnything.Checkpoints;
using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>
/// TinyViT's inverted-residual <c>MBConv</c>: 1x1 expand, GELU, depthwise 3x3, GELU, 1x1 project,
/// add the input, GELU (the last activation comes after the residual). Planar [C, H·W] in and out.
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
        float[] t = _conv1.Forward(x, h, w);
        Activations.Gelu(t);
        t = _conv2.Forward(t, h, w);
        Activations.Gelu(t);
        t = _conv3.Forward(t, h, w);
        AddInPlace(t, x);
        Activations.Gelu(t);
        return t;
    }

    internal static void AddInPlace(Span<float> y, ReadOnlySpan<float> x)
    {
        int i = 0, vw = Vector<float>.Count;
        for (; i <= y.Length - vw; i += vw) (new Vector<float>(y.Slice(i)) + new Vector<float>(x.Slice(i))).CopyTo(y.Slice(i));
        for (; i < y.Length; i++) y[i] += x[i];
    }
}
