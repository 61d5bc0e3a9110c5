using SegmentAnything.Checkpoints;
using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>
/// The official SAM prompt encoder: random-Fourier positional encoding of points and box corners
/// plus learned type embeddings (sparse), and a small conv net over a previous mask (dense).
/// </summary>
public sealed class PromptEncoder
{
    public int EmbedDim { get; }
    public int EmbeddingSize { get; }
    public int InputImageSize { get; }
    public int MaskInputSize => 4 * EmbeddingSize;

    private readonly PositionEmbeddingRandom _pe;
    private readonly float[][] _pointEmbeddings; // 0: negative, 1: positive, 2/3: box corners
    private readonly float[] _notAPoint, _noMask;
    private readonly Conv2d _maskConv1, _maskConv2, _maskConv3;
    private readonly LayerNormParams _maskNorm1, _maskNorm2;
    private float[]? _densePe;

    private PromptEncoder(WeightBinder w, string prefix, int embeddingSize, int inputImageSize)
    {
        var d = w.Dict;
        int dim = d.Get(prefix + "no_mask_embed.weight")?.Shape[^1] ?? throw new CheckpointException($"{d.Source}: no {prefix}no_mask_embed.weight; not a SAM prompt encoder.");
        int maskIn = d.Get(prefix + "mask_downscaling.3.weight")?.Shape[0] ?? 16;
        int feats = d.Get(prefix + "pe_layer.positional_encoding_gaussian_matrix")?.Shape[^1] ?? dim / 2;
        (EmbedDim, EmbeddingSize, InputImageSize) = (dim, embeddingSize, inputImageSize);
        _pe = new PositionEmbeddingRandom(w.Take(prefix + "pe_layer.positional_encoding_gaussian_matrix", 2, feats));
        if (2 * feats != dim) throw new CheckpointException($"{d.Source}: positional encoding width {2 * feats} differs from prompt embedding width {dim}.");
        _pointEmbeddings = new float[4][];
        for (int i = 0; i < 4; i++) _pointEmbeddings[i] = w.Take($"{prefix}point_embeddings.{i}.weight", 1, dim);
        _notAPoint = w.Take(prefix + "not_a_point_embed.weight", 1, dim);
        _noMask = w.Take(prefix + "no_mask_embed.weight", 1, dim);
        int q = maskIn / 4;
        _maskConv1 = new Conv2d(w.Take(prefix + "mask_downscaling.0.weight", q, 1, 2, 2), w.Take(prefix + "mask_downscaling.0.bias", q), 1, q, 2, 2, stride: 2);
        _maskNorm1 = LayerNormParams.Load(w, prefix + "mask_downscaling.1", q, 1e-6f);
        _maskConv2 = new Conv2d(w.Take(prefix + "mask_downscaling.3.weight", maskIn, q, 2, 2), w.Take(prefix + "mask_downscaling.3.bias", maskIn), q, maskIn, 2, 2, stride: 2);
        _maskNorm2 = LayerNormParams.Load(w, prefix + "mask_downscaling.4", maskIn, 1e-6f);
        _maskConv3 = new Conv2d(w.Take(prefix + "mask_downscaling.6.weight", dim, maskIn, 1, 1), w.Take(prefix + "mask_downscaling.6.bias", dim), maskIn, dim, 1, 1);
    }

    public static PromptEncoder Load(WeightBinder w, int embeddingSize, int inputImageSize, string prefix = "prompt_encoder.") =>
        new(w, prefix, embeddingSize, inputImageSize);

    /// <summary>The positional encoding of every embedding cell, [dim, h, w]; computed once.</summary>
    public float[] DensePositionalEncoding() => _densePe ??= _pe.Grid(EmbeddingSize, EmbeddingSize);

    /// <summary>
    /// Sparse embeddings of one prompt, [tokens, dim]: points (in the resized input frame) with their
    /// labels, then the two box corners. Without a box a padding point (label −1) is appended.
    /// Labels other than −1, 0 and 1 get the positional encoding only, as in the official code.
    /// </summary>
    public float[] EmbedSparse(ReadOnlySpan<float> points, ReadOnlySpan<int> labels, ReadOnlySpan<float> box)
    {
        int np = labels.Length;
        bool hasBox = box.Length == 4;
        bool pad = np > 0 && !hasBox;
        int tokens = np + (pad ? 1 : 0) + (hasBox ? 2 : 0);
        int dim = EmbedDim;
        var outp = new float[tokens * dim];
        for (int i = 0; i < np + (pad ? 1 : 0); i++)
        {
            bool isPad = i == np;
            float x = isPad ? 0f : points[2 * i] + 0.5f, y = isPad ? 0f : points[2 * i + 1] + 0.5f;
            int label = isPad ? -1 : labels[i];
            Span<float> row = outp.AsSpan(i * dim, dim);
            _pe.Encode(x, y, InputImageSize, InputImageSize, row);
            if (label == -1) { row.Clear(); Elementwise.Add(row, _notAPoint); }
            else if (label == 0) Elementwise.Add(row, _pointEmbeddings[0]);
            else if (label == 1) Elementwise.Add(row, _pointEmbeddings[1]);
        }
        if (hasBox)
        {
            int t = np + (pad ? 1 : 0);
            for (int c = 0; c < 2; c++)
            {
                Span<float> row = outp.AsSpan((t + c) * dim, dim);
                _pe.Encode(box[2 * c] + 0.5f, box[2 * c + 1] + 0.5f, InputImageSize, InputImageSize, row);
                Elementwise.Add(row, _pointEmbeddings[2 + c]);
            }
        }
        return outp;
    }

    /// <summary>
    /// Sparse embeddings [count, 2, dim] of single positive points (interleaved x, y in the resized input
    /// frame, float64 as the automatic mask generator passes them): each point and the padding point.
    /// The pixel-centre shift and normalisation happen in float64 before the float32 encoding, as there.
    /// </summary>
    public float[] EmbedPositivePoints(ReadOnlySpan<double> pointsXY)
    {
        if (pointsXY.Length % 2 != 0) throw new ArgumentException("Points must come in (x, y) pairs.");
        int count = pointsXY.Length / 2, dim = EmbedDim;
        var outp = new float[count * 2 * dim];
        for (int i = 0; i < count; i++)
        {
            Span<float> row = outp.AsSpan(2 * i * dim, dim);
            _pe.EncodeNormalized((float)((pointsXY[2 * i] + 0.5) / InputImageSize), (float)((pointsXY[2 * i + 1] + 0.5) / InputImageSize), row);
            Elementwise.Add(row, _pointEmbeddings[1]);
            _notAPoint.CopyTo(outp.AsSpan((2 * i + 1) * dim, dim));
        }
        return outp;
    }

    /// <summary>Dense embedding [dim, h, w] of a low-res mask [4h, 4w] of logits, or the learned no-mask embedding.</summary>
    public float[] EmbedDense(ReadOnlySpan<float> maskInput)
    {
        int s = EmbeddingSize, n = s * s, dim = EmbedDim;
        var outp = new float[dim * n];
        if (maskInput.IsEmpty)
        {
            for (int c = 0; c < dim; c++) outp.AsSpan(c * n, n).Fill(_noMask[c]);
            return outp;
        }
        if (maskInput.Length != MaskInputSize * MaskInputSize)
            throw new ArgumentException($"Mask input must be {MaskInputSize}x{MaskInputSize} low-resolution logits.");
        float[] a = _maskConv1.Forward(maskInput, 4 * s, 4 * s);
        _maskNorm1.Apply2d(a, 4 * n);
        Activations.Gelu(a);
        float[] b = _maskConv2.Forward(a, 2 * s, 2 * s);
        _maskNorm2.Apply2d(b, n);
        Activations.Gelu(b);
        _maskConv3.Forward(b, s, s, outp);
        return outp;
    }
}

/// <summary>Positional encoding with random spatial frequencies (PositionEmbeddingRandom).</summary>
internal sealed class PositionEmbeddingRandom(float[] gaussian)
{
    private readonly int _feats = gaussian.Length / 2;
    private const float TwoPi = (float)(2 * Math.PI);

    /// <summary>Encodes a point given in pixels of an image of size (h, w) into [2·feats] (sines then cosines).</summary>
    public void Encode(float x, float y, int h, int w, Span<float> dst) => EncodeNormalized(x / w, y / h, dst);

    internal void EncodeNormalized(float x, float y, Span<float> dst)
    {
        float cx = 2 * x - 1, cy = 2 * y - 1;
        for (int j = 0; j < _feats; j++)
        {
            float p = TwoPi * (cx * gaussian[j] + cy * gaussian[_feats + j]);
            dst[j] = MathF.Sin(p);
            dst[_feats + j] = MathF.Cos(p);
        }
    }

    /// <summary>The encoding of every cell centre of an h×w grid, channel-planar [2·feats, h, w].</summary>
    public float[] Grid(int h, int w)
    {
        int dim = 2 * _feats;
        var outp = new float[dim * h * w];
        Span<float> tmp = stackalloc float[dim];
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++)
            {
                EncodeNormalized((j + 0.5f) / w, (i + 0.5f) / h, tmp);
                for (int c = 0; c < dim; c++) outp[(c * h + i) * w + j] = tmp[c];
            }
        return outp;
    }
}
