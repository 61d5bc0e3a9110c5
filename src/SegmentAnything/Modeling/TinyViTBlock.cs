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
        if (x.Length != tokens * Dim) throw new ArgumentException("TinyViT block input has the wrong size.");
        float[] t = Attention.ForwardResidual(x, h, w);
        // The local conv reads neighbouring rows of t, which is complete; each band then runs
        // local conv → x + mlp(x) on one thread.
        int d = Dim;
        float[] m = GC.AllocateUninitializedArray<float>(tokens * d);
        TinyViTBands.Run(h, w, (r0, r1) =>
        {
            int n = (r1 - r0) * w;
            float[] local = TinyViTBands.Scratch(0, n * d);
            _localConv.DepthwiseRows(t, h, w, local, r0, r1, gelu: false);
            _mlp.ForwardResidualRows(local.AsSpan(0, n * d), m.AsSpan(r0 * w * d, n * d), n);
        });
        return m;
    }
}
