using SegmentAnything.Checkpoints;

namespace SegmentAnything.Modeling;

/// <summary>
/// A feature map, always stored channels-last [H·W, C]. <paramref name="ConvMap"/> says whether the
/// official code holds it as a conv map [1, C, H, W] (else as tokens [1, N, C]), which only matters
/// when it is recorded for comparison.
/// </summary>
internal readonly record struct TinyViTFeatures(float[] Data, int Channels, int H, int W, bool ConvMap)
{
    /// <summary>The value in its official layout (a transposed copy for conv maps).</summary>
    public float[] OfficialData => ConvMap ? TinyViTLayout.Transpose(Data, H * W, Channels) : Data;

    /// <summary>The official layout of this value: [1, C, H, W] for conv maps, [1, N, C] for tokens.</summary>
    public int[] OfficialShape => ConvMap ? [1, Channels, H, W] : [1, H * W, Channels];
}

/// <summary>
/// One TinyViT stage: the official <c>ConvLayer</c> (MBConv blocks, planar) or <c>BasicLayer</c>
/// (TinyViT blocks), both on channels-last maps, followed by an optional PatchMerging that outputs tokens.
/// </summary>
internal sealed class TinyViTLayer
{
    public int Dim { get; }
    public int OutDim => _downsample?.OutChannels ?? Dim;
    public bool IsConvLayer => _mbconvs is not null;
    public int Depth => _mbconvs?.Length ?? _blocks!.Length;
    public IReadOnlyList<TinyViTBlock> Blocks => _blocks ?? [];
    private readonly TinyViTMBConv[]? _mbconvs;
    private readonly TinyViTBlock[]? _blocks;
    private readonly TinyViTPatchMerging? _downsample;

    private TinyViTLayer(int dim, TinyViTMBConv[]? mbconvs, TinyViTBlock[]? blocks, TinyViTPatchMerging? downsample)
    {
        (Dim, _mbconvs, _blocks, _downsample) = (dim, mbconvs, blocks, downsample);
    }

    /// <summary>
    /// Binds <c>{name}.blocks.*</c> and <c>{name}.downsample.*</c>. The stage kind, depth and output width
    /// are read from the state dict: MBConv blocks have <c>conv1</c>, TinyViT blocks <c>attn</c>.
    /// </summary>
    public static TinyViTLayer Load(WeightBinder w, string name, int dim)
    {
        StateDict d = w.Dict;
        int depth = 0;
        while (HasPrefix(d, $"{name}.blocks.{depth}.")) depth++;
        if (depth == 0) throw new CheckpointException($"{d.Source}: {name} has no blocks.");
        bool conv = d.Contains($"{name}.blocks.0.conv1.c.weight");
        if (!conv && !d.Contains($"{name}.blocks.0.attn.qkv.weight"))
            throw new CheckpointException($"{d.Source}: {name}.blocks.0 is neither an MBConv nor a TinyViT block.");
        TinyViTMBConv[]? mbconvs = null;
        TinyViTBlock[]? blocks = null;
        if (conv) mbconvs = Enumerable.Range(0, depth).Select(i => TinyViTMBConv.Load(w, $"{name}.blocks.{i}", dim)).ToArray();
        else blocks = Enumerable.Range(0, depth).Select(i => TinyViTBlock.Load(w, $"{name}.blocks.{i}", dim)).ToArray();

        TinyViTPatchMerging? downsample = null;
        var merge = d.Get($"{name}.downsample.conv1.c.weight");
        if (merge is not null)
        {
            if (merge.Shape.Length != 4 || merge.Shape[0] <= 0)
                throw new CheckpointException($"{name}.downsample.conv1.c.weight has shape [{string.Join(", ", merge.Shape)}].");
            downsample = TinyViTPatchMerging.Load(w, $"{name}.downsample", dim, merge.Shape[0]);
        }
        return new TinyViTLayer(dim, mbconvs, blocks, downsample);
    }

    internal static bool HasPrefix(StateDict d, string prefix) => d.Keys.Any(k => k.StartsWith(prefix, StringComparison.Ordinal));

    public (int H, int W) OutputSize(int h, int w) => _downsample?.OutputSize(h, w) ?? (h, w);

    public TinyViTFeatures Forward(TinyViTFeatures x)
    {
        if (x.Channels != Dim) throw new InvalidOperationException($"Stage expects {Dim} channels, got {x.Channels}.");
        int h = x.H, w = x.W;
        if (_mbconvs is not null)
        {
            float[] map = x.Data;
            foreach (var block in _mbconvs) map = block.Forward(map, h, w);
            x = new TinyViTFeatures(map, Dim, h, w, ConvMap: true);
        }
        else
        {
            float[] tokens = x.Data;
            foreach (var block in _blocks!) tokens = block.Forward(tokens, h, w);
            x = new TinyViTFeatures(tokens, Dim, h, w, ConvMap: false);
        }
        if (_downsample is null) return x;
        var (oh, ow) = _downsample.OutputSize(h, w);
        var ds = new TinyViTFeatures(_downsample.Forward(x.Data, h, w), _downsample.OutChannels, oh, ow, ConvMap: false);
        return ds;
    }
}
