using SegmentAnything.Checkpoints;
using SegmentAnything.Kernels;
using SegmentAnything.Tensors;

namespace SegmentAnything.Modeling;

/// <summary>Hyper-parameters of the official SAM ViT image encoder, as inferred from a checkpoint.</summary>
public sealed record ImageEncoderViTConfig(
    int ImgSize, int PatchSize, int EmbedDim, int Depth, int NumHeads, int MlpDim, int OutChans,
    int WindowSize, int[] GlobalAttnIndexes, bool UseRelPos, bool QkvBias)
{
    public int GridSize => ImgSize / PatchSize;

    /// <summary>
    /// Reads the configuration off the state dict: the input size from <c>pos_embed</c>, the head size
    /// and which blocks are global from the <c>rel_pos</c> tables (a window block's table spans
    /// 2·window−1 positions, a global block's 2·grid−1).
    /// </summary>
    public static ImageEncoderViTConfig Infer(StateDict d, string prefix)
    {
        var proj = d.Get(prefix + "patch_embed.proj.weight") ?? throw new CheckpointException($"{d.Source}: no {prefix}patch_embed.proj.weight; not a SAM ViT encoder.");
        if (proj.Shape.Length != 4 || proj.Shape[1] != 3 || proj.Shape[2] != proj.Shape[3])
            throw new CheckpointException($"{d.Source}: {prefix}patch_embed.proj.weight has shape [{string.Join(", ", proj.Shape)}], expected [dim, 3, p, p].");
        int embed = proj.Shape[0], patch = proj.Shape[2];
        var pos = d.Get(prefix + "pos_embed");
        int grid = pos is { Shape.Length: 4 } ? pos.Shape[1] : 1024 / patch;
        int depth = Layers.CountChildren(d, prefix + "blocks");
        if (depth == 0) throw new CheckpointException($"{d.Source}: no {prefix}blocks.N found.");
        int mlp = Layers.OutFeatures(d, prefix + "blocks.0.mlp.lin1");
        int outChans = d.Get(prefix + "neck.0.weight")?.Shape[0] ?? 256;
        bool qkvBias = d.Contains(prefix + "blocks.0.attn.qkv.bias");
        var rel0 = d.Get(prefix + "blocks.0.attn.rel_pos_h");
        bool useRel = rel0 is not null;
        int headDim, window = 14;
        var globals = new List<int>();
        if (useRel)
        {
            headDim = rel0!.Shape[^1];
            int windowSpan = -1;
            for (int i = 0; i < depth; i++)
            {
                int span = d.Get($"{prefix}blocks.{i}.attn.rel_pos_h")?.Shape[0] ?? -1;
                if (span == 2 * grid - 1) globals.Add(i);
                else if (span > 0) windowSpan = span;
            }
            if (windowSpan > 0) window = (windowSpan + 1) / 2;
            else window = 0;
        }
        else
        {
            // Without relative positions the head count is not recorded; use the official 64-wide heads.
            headDim = 64;
        }
        if (headDim <= 0 || embed % headDim != 0)
            throw new CheckpointException($"{d.Source}: head size {headDim} does not divide embedding width {embed}.");
        return new ImageEncoderViTConfig(grid * patch, patch, embed, depth, embed / headDim, mlp, outChans, window, [.. globals], useRel, qkvBias);
    }
}

/// <summary>The official SAM ViT image encoder (ViT-B/L/H and any width, depth or input size).</summary>
public sealed class ImageEncoderViT : IImageEncoder
{
    private readonly ImageEncoderViTConfig _cfg;
    private readonly Conv2d _patchEmbed;
    private readonly float[]? _posEmbed;
    private readonly ViTBlock[] _blocks;
    private readonly Conv2d _neckConv1, _neckConv2;
    private readonly LayerNormParams _neckNorm1, _neckNorm2;
    private readonly string _name;

    public ImageEncoderViTConfig Config => _cfg;
    public int ImageSize => _cfg.ImgSize;
    public int EmbeddingChannels => _cfg.OutChans;
    public int EmbeddingSize => _cfg.GridSize;

    private ImageEncoderViT(WeightBinder w, ImageEncoderViTConfig c, string prefix)
    {
        _cfg = c;
        _name = prefix.TrimEnd('.');
        int p = c.PatchSize, dim = c.EmbedDim, g = c.GridSize;
        _patchEmbed = new Conv2d(w.Take(prefix + "patch_embed.proj.weight", dim, 3, p, p), w.Take(prefix + "patch_embed.proj.bias", dim), 3, dim, p, p, stride: p);
        _posEmbed = w.Dict.Contains(prefix + "pos_embed") ? w.Take(prefix + "pos_embed", 1, g, g, dim) : null;
        _blocks = new ViTBlock[c.Depth];
        for (int i = 0; i < c.Depth; i++)
        {
            int window = c.GlobalAttnIndexes.Contains(i) ? 0 : c.WindowSize;
            _blocks[i] = ViTBlock.Load(w, $"{prefix}blocks.{i}", c, window);
        }
        _neckConv1 = new Conv2d(w.Take(prefix + "neck.0.weight", c.OutChans, dim, 1, 1), null, dim, c.OutChans, 1, 1);
        _neckNorm1 = LayerNormParams.Load(w, prefix + "neck.1", c.OutChans, 1e-6f);
        _neckConv2 = new Conv2d(w.Take(prefix + "neck.2.weight", c.OutChans, c.OutChans, 3, 3), null, c.OutChans, c.OutChans, 3, 3, padding: 1);
        _neckNorm2 = LayerNormParams.Load(w, prefix + "neck.3", c.OutChans, 1e-6f);
    }

    public static ImageEncoderViT Load(WeightBinder w, string prefix = "image_encoder.") =>
        new(w, ImageEncoderViTConfig.Infer(w.Dict, prefix), prefix);

    [ThreadStatic] private static float[]? _tokens;

    public Tensor Forward(Tensor image, ActivationRecorder? recorder = null)
    {
        int s = _cfg.ImgSize, g = _cfg.GridSize, dim = _cfg.EmbedDim, n = g * g;
        if (image.Rank != 3 || image.Shape[0] != 3 || image.Shape[1] != s || image.Shape[2] != s)
            throw new ArgumentException($"Encoder input must be [3, {s}, {s}], got {image}.");
        float[] planar = _patchEmbed.Forward(image.Data, s, s);
        // The token map is an intermediate (12 MB for ViT-B): one per thread, reused by every call.
        var x = _tokens is { } t && t.Length == n * dim ? t : (_tokens = GC.AllocateUninitializedArray<float>(n * dim));
        Transpose(planar, x, dim, n);
        recorder?.Record(_name + ".patch_embed", x, 1, g, g, dim);
        if (_posEmbed is not null) Elementwise.Add(x, _posEmbed);
        for (int i = 0; i < _blocks.Length; i++)
        {
            _blocks[i].Forward(x, g, g);
            recorder?.Record($"{_name}.blocks.{i}", x, 1, g, g, dim);
        }
        Transpose(x, planar, n, dim);
        float[] y = _neckConv1.Forward(planar, g, g);
        _neckNorm1.Apply2d(y, n);
        y = _neckConv2.Forward(y, g, g);
        _neckNorm2.Apply2d(y, n);
        recorder?.Record(_name + ".neck", y, 1, _cfg.OutChans, g, g);
        return new Tensor(y, _cfg.OutChans, g, g);
    }

    /// <summary>dst[c, r] = src[r, c] for a [rows, cols] source.</summary>
    internal static void Transpose(ReadOnlySpan<float> src, Span<float> dst, int rows, int cols)
    {
        const int B = 32;
        for (int r0 = 0; r0 < rows; r0 += B)
            for (int c0 = 0; c0 < cols; c0 += B)
            {
                int r1 = Math.Min(rows, r0 + B), c1 = Math.Min(cols, c0 + B);
                for (int r = r0; r < r1; r++)
                    for (int c = c0; c < c1; c++) dst[c * rows + r] = src[r * cols + c];
            }
    }
}
