using SegmentAnything.Checkpoints;

namespace SegmentAnything.Modeling;

/// <summary>
/// <c>TinyViTBlock</c>: x + windowed attention(x); a depthwise local conv (Conv2d_BN, no residual)
/// on the token map; then x + mlp(x). Tokens [h·w, Dim] in and out.
/// </summary>
internal sealed class TinyViTBlock
{
    public int Dim { get; }
    public TinyViTAttention Attention { get; }
    private readonly TinyViTMlp _mlp;
    private readonly TinyViTConvBN _localConv;

    private TinyViTBlock(int dim, TinyViTAttention attention, TinyViTMlp mlp, TinyViTConvBN localConv)
    {
        (Dim, Attention, _mlp, _localConv) = (dim, attention, mlp, localConv);
    }

    public static TinyViTBlock Load(WeightBinder w, string name, int dim)
    {
        var attention = TinyViTAttention.Load(w, name + ".attn", dim);
        var mlp = TinyViTMlp.Load(w, name + ".mlp", dim);
        int k = TinyViTMBConv.KernelOf(w, name + ".local_conv.c.weight", 3);
        var local = TinyViTConvBN.Load(w, name + ".local_conv", dim, dim, k, 1, k / 2, dim);
        return new TinyViTBlock(dim, attention, mlp, local);
    }

    public float[] Forward(float[] x, int h, int w)
    {
        int tokens = h * w;
        TinyViTProfile.Mark("pre");
        float[] t = Attention.Forward(x, h, w);
        TinyViTMBConv.AddInPlace(t, x);
        TinyViTProfile.Mark($"L{Dim} attn-proj");
        float[] local = GC.AllocateUninitializedArray<float>(tokens * Dim);
        _localConv.ForwardChannelsLast(t, h, w, local);
        t = local;
        TinyViTProfile.Mark($"L{Dim} localconv");
        float[] m = _mlp.Forward(t, tokens);
        TinyViTMBConv.AddInPlace(m, t);
        TinyViTProfile.Mark($"L{Dim} mlp");
        return m;
    }
}
