using SegmentAnything.Checkpoints;
using SegmentAnything.Imaging;
using SegmentAnything.Kernels;
using SegmentAnything.Tensors;

namespace SegmentAnything.Modeling;

/// <summary>The image encoder's hyper-parameters, as inferred from a checkpoint.</summary>
public sealed record EfficientSamImageEncoderConfig(
    int ImageSize,
    int PatchSize,
    int EmbedDim,
    int Depth,
    int NumHeads,
    int MlpHiddenDim,
    int NeckDim,
    int PretrainGridSize)
{
    public int GridSize => ImageSize / PatchSize;
}

/// <summary>
/// EfficientSAM's <c>ImageEncoderViT</c> (efficient_sam_encoder.py): a plain ViT with global
/// attention in every block. The patch embedding is a strided convolution, the absolute position
/// embedding (learned for 224-pixel pretraining, with a class token that is dropped) is resized
/// bicubically to the patch grid, and a two-convolution neck with LayerNorm2d maps to the decoder width.
/// </summary>
public sealed class EfficientSamImageEncoder : IImageEncoder
{
    private const float BlockNormEps = 1e-6f;
    private const float NeckNormEps = 1e-6f;

    private readonly Conv2dChannelsLast _patchEmbed;
    private readonly float[] _posEmbed; // [grid·grid, EmbedDim], already resized
    private readonly EfficientSamVitBlock[] _blocks;
    // The neck runs on the tokens as they are (channels-last), so LayerNorm2d is a LayerNorm over each token's
    // channels and only the final embedding is transposed to [C, H, W].
    private readonly Conv2dChannelsLast _neckConv1, _neckConv2;
    private readonly float[] _neckNorm1Weight, _neckNorm1Bias, _neckNorm2Weight, _neckNorm2Bias;

    public EfficientSamImageEncoderConfig Config { get; }
    public int ImageSize => Config.ImageSize;
    public int EmbeddingChannels => Config.NeckDim;
    public int EmbeddingSize => Config.GridSize;

    public EfficientSamImageEncoder(WeightBinder binder, string prefix, EfficientSamImageEncoderConfig config)
    {
        Config = config;
        int d = config.EmbedDim, p = config.PatchSize, n = config.NeckDim;
        if (config.ImageSize % p != 0) throw new CheckpointException($"Image size {config.ImageSize} is not a multiple of the patch size {p}.");
        if (d % config.NumHeads != 0) throw new CheckpointException($"{config.NumHeads} heads do not divide the embedding width {d}.");
        _patchEmbed = new Conv2dChannelsLast(binder.Take(prefix + ".patch_embed.proj.weight", d, 3, p, p), binder.Take(prefix + ".patch_embed.proj.bias", d),
            3, d, p, p, stride: p, planarInput: true);

        int pre = config.PretrainGridSize;
        float[] pos = binder.Take(prefix + ".pos_embed", 1, pre * pre + 1, d);
        _posEmbed = ResizePositionEmbedding(pos, pre, d, config.GridSize);

        _blocks = new EfficientSamVitBlock[config.Depth];
        for (int i = 0; i < config.Depth; i++)
            _blocks[i] = new EfficientSamVitBlock(binder, $"{prefix}.blocks.{i}", d, config.NumHeads, config.MlpHiddenDim, BlockNormEps);

        _neckConv1 = new Conv2dChannelsLast(binder.Take(prefix + ".neck.0.weight", n, d, 1, 1), null, d, n, 1, 1);
        _neckNorm1Weight = binder.Take(prefix + ".neck.1.weight", n);
        _neckNorm1Bias = binder.Take(prefix + ".neck.1.bias", n);
        _neckConv2 = new Conv2dChannelsLast(binder.Take(prefix + ".neck.2.weight", n, n, 3, 3), null, n, n, 3, 3, padding: 1);
        _neckNorm2Weight = binder.Take(prefix + ".neck.3.weight", n);
        _neckNorm2Bias = binder.Take(prefix + ".neck.3.bias", n);
    }

    /// <summary>get_abs_pos: drop the class token, resize the pretraining grid bicubically, lay out as tokens.</summary>
    private static float[] ResizePositionEmbedding(float[] pos, int pretrainGrid, int dim, int grid)
    {
        // [1 + g·g, D] without the class token, as channel planes [D, g, g].
        float[] planes = EfficientSamOps.Transpose(pos.AsSpan(dim), pretrainGrid * pretrainGrid, dim);
        float[] resized = pretrainGrid == grid ? planes : TorchResize.Bicubic(planes, dim, pretrainGrid, pretrainGrid, grid, grid);
        return EfficientSamOps.Transpose(resized, dim, grid * grid);
    }

    /// <param name="image">The normalised image [3, S, S] (or [1, 3, S, S]).</param>
    /// <returns>The embedding [NeckDim, grid, grid].</returns>
    public Tensor Forward(Tensor image, ActivationRecorder? recorder = null)
    {
        int s = ImageSize;
        bool ok = image.Rank switch
        {
            3 => image.Shape[0] == 3 && image.Shape[1] == s && image.Shape[2] == s,
            4 => image.Shape[0] == 1 && image.Shape[1] == 3 && image.Shape[2] == s && image.Shape[3] == s,
            _ => false,
        };
        if (!ok) throw new ArgumentException($"EfficientSAM expects a normalised image [3, {s}, {s}], got {image}.");

        int d = Config.EmbedDim, g = Config.GridSize, n = g * g;
        EncoderProfile.Call();
        long t0 = EncoderProfile.Start();
        var x = new float[n * d]; // tokens [g·g, D]
        _patchEmbed.Forward(image.Data, s, s, x);
        if (recorder is not null) recorder.Record("image_encoder.patch_embed", EfficientSamOps.Transpose(x, n, d), 1, d, g, g);
        Elementwise.Add(x, _posEmbed);
        EncoderProfile.Lap(EncoderProfile.Patch, t0);
        for (int i = 0; i < _blocks.Length; i++)
        {
            _blocks[i].Forward(x, n);
            recorder?.Record($"image_encoder.blocks.{i}", x, 1, n, d);
        }

        t0 = EncoderProfile.Start();
        int c = Config.NeckDim;
        var y1 = new float[n * c];
        _neckConv1.Forward(x, g, g, y1);
        Normalization.LayerNorm(y1, n, c, _neckNorm1Weight, _neckNorm1Bias, NeckNormEps);
        var y2 = new float[n * c];
        _neckConv2.Forward(y1, g, g, y2);
        Normalization.LayerNorm(y2, n, c, _neckNorm2Weight, _neckNorm2Bias, NeckNormEps);
        float[] y = EfficientSamOps.Transpose(y2, n, c);
        EncoderProfile.Lap(EncoderProfile.Neck, t0);
        recorder?.Record("image_encoder.neck", y, 1, c, g, g);
        return new Tensor(y, c, g, g);
    }
}

/// <summary>
/// One ViT <c>Block</c>: x + attn(norm1(x)), then x + mlp(norm2(x)), with fused-qkv global
/// multi-head attention (scale head_dim^−½ applied to q·kᵀ) and a GELU MLP.
/// </summary>
internal sealed class EfficientSamVitBlock
{
    private readonly EfficientSamLayerNorm _norm1, _norm2;
    private readonly Linear _qkv, _proj, _fc1, _fc2;
    private readonly int _dim, _heads;
    private readonly float _scale;

    public EfficientSamVitBlock(WeightBinder binder, string prefix, int dim, int heads, int mlpHidden, float eps)
    {
        (_dim, _heads) = (dim, heads);
        _scale = (float)Math.Pow(dim / heads, -0.5);
        _norm1 = new EfficientSamLayerNorm(binder, prefix + ".norm1", dim, eps);
        _qkv = Bind(binder, prefix + ".attn.qkv", dim, 3 * dim);
        _proj = Bind(binder, prefix + ".attn.proj", dim, dim);
        _norm2 = new EfficientSamLayerNorm(binder, prefix + ".norm2", dim, eps);
        _fc1 = Bind(binder, prefix + ".mlp.fc1", dim, mlpHidden);
        _fc2 = Bind(binder, prefix + ".mlp.fc2", mlpHidden, dim);
    }

    private static Linear Bind(WeightBinder binder, string prefix, int fanIn, int fanOut) =>
        new(binder.Take(prefix + ".weight", fanOut, fanIn), binder.Take(prefix + ".bias", fanOut), fanIn, fanOut);

    /// <summary>
    /// Token rows per band of the fused stages: a multiple of every GEMM row block (12 micro-panels of 12, 6 or
    /// 4 rows), small enough that a band's LayerNorm output and MLP hidden rows (144 x 768) stay in L2 between
    /// the products that write and read them.
    /// </summary>
    internal const int BandRows = 144;

    /// <summary>Updates the tokens <paramref name="x"/> [n, dim] in place; scratch from the shared array pool.</summary>
    public void Forward(float[] x, int n)
    {
        int d = _dim, size = n * d, bands = (n + BandRows - 1) / BandRows;
        var pool = System.Buffers.ArrayPool<float>.Shared;
        float[] h = pool.Rent(size), qkv = pool.Rent(3 * size), y = pool.Rent(size);
        try
        {
            long t = EncoderProfile.Start();
            // norm1 and qkv per band of rows on one thread each: the normalised rows go straight into the product.
            KernelParallel.ForEachSerial(bands, b =>
            {
                int r0 = b * BandRows, rows = Math.Min(BandRows, n - r0);
                Span<float> hb = h.AsSpan(r0 * d, rows * d);
                x.AsSpan(r0 * d, rows * d).CopyTo(hb);
                _norm1.Apply(hb, rows);
                _qkv.Forward(hb, qkv.AsSpan(r0 * 3 * d, rows * 3 * d), rows);
            });
            t = EncoderProfile.Lap(EncoderProfile.Qkv, t);
            // The fused projection is laid out [n, 3, heads, headDim]: q, k and v are column blocks of width d.
            if (GlobalAttention.IsSupported) GlobalAttention.Run(qkv, 3 * d, 0, d, 2 * d, n, _heads, d / _heads, _scale, h, d);
            else EfficientSamMultiHeadAttention.Run(new(qkv, 3 * d, 0), new(qkv, 3 * d, d), new(qkv, 3 * d, 2 * d),
                n, n, _heads, d / _heads, _scale, h);
            t = EncoderProfile.Lap(EncoderProfile.Attention, t);
            // proj + residual → norm2 → fc1 + GELU → fc2 + residual per band: every stage is row-local, so a band's
            // rows (the MLP's hidden ones included) never leave the thread's L2.
            KernelParallel.ForEachSerial(bands, ProjMlpBand(x, h, y, n));
            EncoderProfile.Lap(EncoderProfile.ProjMlp, t);
        }
        finally { pool.Return(h); pool.Return(qkv); pool.Return(y); }
    }

    private Action<int> ProjMlpBand(float[] x, float[] h, float[] y, int n) => b =>
    {
        int d = _dim, hiddenDim = _fc1.OutFeatures;
        int r0 = b * BandRows, rows = Math.Min(BandRows, n - r0);
        float[] hidden = System.Buffers.ArrayPool<float>.Shared.Rent(BandRows * hiddenDim);
        try
        {
            Span<float> hb = h.AsSpan(r0 * d, rows * d);
            Span<float> residual = x.AsSpan(r0 * d, rows * d), yb = y.AsSpan(r0 * d, rows * d);
            _proj.ForwardAddInto(hb, yb, rows, residual); // hb: the band's attention output, free again after this
            residual.CopyTo(hb);
            _norm2.Apply(hb, rows);
            _fc1.ForwardGelu(hb, hidden, rows);
            _fc2.ForwardAddInto(hidden, yb, rows, residual);
        }
        finally { System.Buffers.ArrayPool<float>.Shared.Return(hidden); }
    };
}
