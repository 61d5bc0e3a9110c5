using SegmentAnything.Checkpoints;
using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>Point labels understood by EfficientSAM's prompt encoder.</summary>
public static class EfficientSamLabel
{
    /// <summary>Padding: the point is ignored apart from a learned "invalid" embedding.</summary>
    public const int Padding = -1;
    public const int Background = 0;
    public const int Foreground = 1;
    public const int BoxTopLeft = 2;
    public const int BoxBottomRight = 3;

    public static bool IsValid(int label) => label is >= Padding and <= BoxBottomRight;
}

/// <summary>
/// EfficientSAM's <c>PromptEncoder</c> (efficient_sam_decoder.py): every point, padding included, gets
/// its random-Fourier positional encoding, plus one learned embedding for labels −1, 1, 2 and 3
/// (label 0, background, gets none). There are no dense (mask) prompts.
/// </summary>
public sealed class EfficientSamPromptEncoder
{
    // Python's 2·π, which PyTorch rounds to float when it scales a float tensor.
    private const float TwoPi = (float)(2 * Math.PI);

    private readonly float[] _gaussian; // [2, EmbedDim / 2]
    private readonly float[] _invalid, _point, _topLeft, _bottomRight;

    public int EmbedDim { get; }
    public int ImageEmbeddingSize { get; }
    public int InputImageSize { get; }

    public EfficientSamPromptEncoder(WeightBinder binder, string prefix, int embedDim, int imageEmbeddingSize, int inputImageSize)
    {
        if (embedDim % 2 != 0) throw new CheckpointException($"{prefix}: prompt embedding width {embedDim} must be even.");
        (EmbedDim, ImageEmbeddingSize, InputImageSize) = (embedDim, imageEmbeddingSize, inputImageSize);
        _gaussian = binder.Take(prefix + ".pe_layer.positional_encoding_gaussian_matrix", 2, embedDim / 2);
        _invalid = binder.Take(prefix + ".invalid_points.weight", 1, embedDim);
        _point = binder.Take(prefix + ".point_embeddings.weight", 1, embedDim);
        _topLeft = binder.Take(prefix + ".bbox_top_left_embeddings.weight", 1, embedDim);
        _bottomRight = binder.Take(prefix + ".bbox_bottom_right_embeddings.weight", 1, embedDim);
    }

    /// <summary>
    /// Sparse embeddings [n, EmbedDim] of <paramref name="n"/> points already rescaled to the
    /// encoder's input frame (x, y interleaved; −1 for padding), with their labels.
    /// </summary>
    public float[] Embed(ReadOnlySpan<float> points, ReadOnlySpan<int> labels, int n)
    {
        if (points.Length != 2 * n || labels.Length != n) throw new ArgumentException("Points and labels do not match.");
        var result = new float[n * EmbedDim];
        float size = InputImageSize;
        for (int i = 0; i < n; i++)
        {
            // Shift to the pixel centre, then normalise by the input size, as forward_with_coords does.
            float x = (points[2 * i] + 0.5f) / size;
            float y = (points[2 * i + 1] + 0.5f) / size;
            Span<float> row = result.AsSpan(i * EmbedDim, EmbedDim);
            Encode(x, y, row);
            float[]? extra = labels[i] switch
            {
                EfficientSamLabel.Padding => _invalid,
                EfficientSamLabel.Foreground => _point,
                EfficientSamLabel.BoxTopLeft => _topLeft,
                EfficientSamLabel.BoxBottomRight => _bottomRight,
                EfficientSamLabel.Background => null,
                _ => throw new ArgumentException($"Invalid EfficientSAM point label {labels[i]} (expected -1, 0, 1, 2 or 3)."),
            };
            if (extra is not null) Elementwise.Add(row, extra);
        }
        return result;
    }

    /// <summary>The dense positional encoding of the embedding grid, [EmbedDim, S, S] (<c>get_dense_pe</c>).</summary>
    public float[] DensePositionalEncoding()
    {
        int s = ImageEmbeddingSize, pixels = s * s;
        var pe = new float[EmbedDim * pixels];
        Span<float> feature = stackalloc float[EmbedDim];
        for (int yi = 0; yi < s; yi++)
            for (int xi = 0; xi < s; xi++)
            {
                Encode((xi + 0.5f) / s, (yi + 0.5f) / s, feature);
                int p = yi * s + xi;
                for (int c = 0; c < EmbedDim; c++) pe[c * pixels + p] = feature[c];
            }
        return pe;
    }

    /// <summary>sin/cos of 2π·((2·(x, y) − 1)·G) for coordinates in [0, 1].</summary>
    private void Encode(float x, float y, Span<float> destination)
    {
        int half = EmbedDim / 2;
        float cx = 2f * x - 1f, cy = 2f * y - 1f;
        for (int j = 0; j < half; j++)
        {
            float a = cx * _gaussian[j] + cy * _gaussian[half + j];
            a *= TwoPi;
            destination[j] = MathF.Sin(a);
            destination[half + j] = MathF.Cos(a);
        }
    }
}
