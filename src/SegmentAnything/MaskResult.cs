using SegmentAnything.Imaging;

namespace SegmentAnything;

/// <summary>
/// The answer to one prompt: <see cref="Count"/> masks at the original image size (row-major,
/// thresholded, or logits when asked for), their predicted IoU scores, and the low-resolution logits.
/// </summary>
public sealed class MaskResult
{
    private enum Upsampling { None, SamBilinear, Bicubic }

    private readonly Upsampling _upsampling;
    private readonly int _imgSize;
    private readonly (int H, int W) _inputSize;
    private float[]? _logits;

    public int Count { get; }
    public int Height { get; }
    public int Width { get; }
    public float[] Scores { get; }

    /// <summary>[Count, LowResHeight, LowResWidth] logits; feed one back as a mask input.</summary>
    public float[] LowResLogits { get; }
    public int LowResHeight { get; }
    public int LowResWidth { get; }

    /// <summary>
    /// [Count, Height, Width] upsampled logits. A predictor's result computes them on first access (26 MB for
    /// three masks of 1800x1200); <see cref="Mask"/> and <see cref="MaskInto"/> never need them.
    /// </summary>
    public float[] Logits => _logits ??= Upsample();

    /// <summary>Whether <see cref="Logits"/> are already held (given, or computed by an earlier access).</summary>
    public bool HasMaterializedLogits => _logits is not null;

    public MaskResult(int count, int height, int width, float[] scores, float[] logits, float[] lowRes, int lowH, int lowW)
    {
        ArgumentNullException.ThrowIfNull(logits);
        (Count, Height, Width, Scores, _logits, LowResLogits, LowResHeight, LowResWidth) = (count, height, width, scores, logits, lowRes, lowH, lowW);
    }

    private MaskResult(int count, int height, int width, float[] scores, float[] lowRes, int lowH, int lowW, Upsampling upsampling, int imgSize, (int H, int W) inputSize)
    {
        (Count, Height, Width, Scores, LowResLogits, LowResHeight, LowResWidth) = (count, height, width, scores, lowRes, lowH, lowW);
        (_upsampling, _imgSize, _inputSize) = (upsampling, imgSize, inputSize);
    }

    /// <summary>SAM's masks: full-size logits are <see cref="MaskPostprocessing.Postprocess"/> of the low-resolution ones, computed when needed.</summary>
    internal static MaskResult ForSam(int count, (int H, int W) originalSize, float[] scores, float[] lowRes, int lowH, int lowW, int imgSize, (int H, int W) inputSize) =>
        new(count, originalSize.H, originalSize.W, scores, lowRes, lowH, lowW, Upsampling.SamBilinear, imgSize, inputSize);

    /// <summary>EfficientSAM's masks: full-size logits are the bicubic upsampling of the low-resolution ones, computed when needed; threshold ≥ 0.</summary>
    internal static MaskResult ForEfficientSam(int count, (int H, int W) originalSize, float[] scores, float[] lowRes, int low) =>
        new(count, originalSize.H, originalSize.W, scores, lowRes, low, low, Upsampling.Bicubic, 0, default) { InclusiveThreshold = true };

    private float[] Upsample() => _upsampling switch
    {
        Upsampling.SamBilinear => MaskPostprocessing.Postprocess(LowResLogits, Count, LowResHeight, LowResWidth, _imgSize, _inputSize, (Height, Width)),
        Upsampling.Bicubic => TorchResize.Bicubic(LowResLogits, Count, LowResHeight, LowResWidth, Height, Width),
        _ => throw new InvalidOperationException("No logits."),
    };

    /// <summary>Mask <paramref name="index"/> as booleans, logit &gt; threshold (0 for SAM, ≥ 0 for EfficientSAM).</summary>
    public bool[] Mask(int index)
    {
        var m = new bool[checked(Height * Width)];
        MaskInto(index, m);
        return m;
    }

    /// <summary>
    /// <see cref="Mask"/> written into <paramref name="destination"/> (at least Height·Width values): with a reused
    /// destination, no allocation proportional to the image. Identical to thresholding <see cref="Logits"/>.
    /// </summary>
    public void MaskInto(int index, Span<bool> destination)
    {
        if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index), $"Mask index {index} is not in [0, {Count}).");
        int plane = checked(Height * Width);
        if (destination.Length < plane) throw new ArgumentException($"A mask of {Width}x{Height} needs {plane} values, got {destination.Length}.", nameof(destination));
        if (_logits is { } logits)
        {
            MaskThresholding.Threshold(logits.AsSpan(checked(index * plane), plane), destination, InclusiveThreshold);
            return;
        }
        if (_upsampling == Upsampling.SamBilinear)
            SamMaskWriter.Write(LowResLogits, index, SamUpsamplePlan.For(LowResHeight, LowResWidth, _imgSize, _inputSize, (Height, Width)), destination, InclusiveThreshold);
        else
            BicubicMask(index, destination[..plane]);
    }

    [ThreadStatic] private static float[]? _plane;

    private void BicubicMask(int index, Span<bool> destination)
    {
        int plane = Height * Width, low = LowResHeight * LowResWidth;
        float[] up = _plane is { } p && p.Length >= plane ? p : (_plane = GC.AllocateUninitializedArray<float>(plane));
        TorchResize.Bicubic(LowResLogits.AsSpan(index * low, low), 1, LowResHeight, LowResWidth, up, Height, Width);
        MaskThresholding.Threshold(up.AsSpan(0, plane), destination, InclusiveThreshold);
    }

    public float[] LowRes(int index) => LowResLogits.AsSpan(index * LowResHeight * LowResWidth, LowResHeight * LowResWidth).ToArray();

    /// <summary>EfficientSAM keeps pixels whose logit is ≥ 0, SAM those &gt; 0.</summary>
    public bool InclusiveThreshold { get; init; }

    public int BestIndex()
    {
        int best = 0;
        for (int i = 1; i < Count; i++) if (Scores[i] > Scores[best]) best = i;
        return best;
    }
}
