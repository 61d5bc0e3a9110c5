using SegmentAnything.Kernels;

namespace SegmentAnything.Imaging;

/// <summary>SAM's <c>Sam.postprocess_masks</c> and the mask threshold.</summary>
public static class MaskPostprocessing
{
    /// <summary>SAM's <c>mask_threshold</c>: a logit above it is inside the mask.</summary>
    public const float MaskThreshold = 0f;

    private const int BandRows = 48;

    [ThreadStatic] private static SamMaskUpsampler? _upsampler;

    private static SamMaskUpsampler RentUpsampler(SamUpsamplePlan plan)
    {
        if (_upsampler is null) _upsampler = new SamMaskUpsampler(plan);
        else _upsampler.Use(plan);
        return _upsampler;
    }

    /// <summary>
    /// Low-resolution logits [count, lowH, lowW] → logits [count, H, W] at the original size: bilinear to
    /// imgSize × imgSize, crop to the resized image's <paramref name="inputSize"/> (dropping the padding),
    /// bilinear to <paramref name="originalSize"/>.
    /// </summary>
    public static unsafe float[] Postprocess(float[] lowRes, int count, int lowH, int lowW, int imgSize,
        (int H, int W) inputSize, (int H, int W) originalSize)
    {
        ArgumentNullException.ThrowIfNull(lowRes);
        if (count <= 0 || lowH <= 0 || lowW <= 0 || imgSize <= 0)
            throw new ArgumentException($"Invalid mask batch [{count}, {lowH}, {lowW}] or image size {imgSize}.");
        if ((long)count * lowH * lowW != lowRes.Length)
            throw new ArgumentException($"Low-resolution masks hold {lowRes.Length} values, not [{count}, {lowH}, {lowW}].");
        if (inputSize.H <= 0 || inputSize.W <= 0 || inputSize.H > imgSize || inputSize.W > imgSize)
            throw new ArgumentException($"Input size {inputSize.W}x{inputSize.H} must lie inside {imgSize}x{imgSize}.");
        if (originalSize.H <= 0 || originalSize.W <= 0)
            throw new ArgumentException($"Original size {originalSize.W}x{originalSize.H} must be positive.");

        var plan = SamUpsamplePlan.For(lowH, lowW, imgSize, inputSize, originalSize);
        int h = originalSize.H, w = originalSize.W, plane = lowH * lowW;
        var result = GC.AllocateUninitializedArray<float>(checked(count * h * w));
        // Bands of rows, each streamed through its own upsampler: a band re-derives at most two
        // intermediate rows its predecessor already had, and every value is computed the same way.
        int bands = Math.Max(1, Math.Min((h + BandRows - 1) / BandRows, 4 * KernelParallel.MaxThreads));
        fixed (float* src = lowRes)
        fixed (float* dst = result)
        {
            nint s = (nint)src, d = (nint)dst;
            KernelParallel.For(count * bands, KernelParallel.MaxThreads, item =>
            {
                int mask = item / bands, band = item % bands;
                int y0 = (int)((long)h * band / bands), y1 = (int)((long)h * (band + 1) / bands);
                var up = RentUpsampler(plan);
                up.Begin((float*)s + (long)mask * plane);
                float* o = (float*)d + (long)mask * h * w;
                for (int y = y0; y < y1; y++) up.Row(y, o + (long)y * w);
            });
        }
        return result;
    }

    [ThreadStatic] private static float[]? _row;

    /// <summary>
    /// Mask <paramref name="index"/> of <see cref="Postprocess"/> thresholded straight into <paramref name="mask"/>
    /// ([H, W], logit &gt; 0, or ≥ 0 when <paramref name="inclusive"/>): every row is upsampled exactly as
    /// <see cref="Postprocess"/> computes it, into one reused row, so no full-size logits are materialised.
    /// </summary>
    public static unsafe void PostprocessMask(float[] lowRes, int index, int lowH, int lowW, int imgSize,
        (int H, int W) inputSize, (int H, int W) originalSize, Span<bool> mask, bool inclusive = false)
    {
        ArgumentNullException.ThrowIfNull(lowRes);
        int plane = checked(lowH * lowW);
        if (lowH <= 0 || lowW <= 0 || index < 0 || (long)(index + 1) * plane > lowRes.Length)
            throw new ArgumentException($"Mask {index} of [{lowH}, {lowW}] planes is not inside {lowRes.Length} values.");
        var plan = SamUpsamplePlan.For(lowH, lowW, imgSize, inputSize, originalSize);
        int h = originalSize.H, w = originalSize.W;
        if (mask.Length < (long)h * w) throw new ArgumentException($"A mask of {w}x{h} needs {(long)h * w} values, got {mask.Length}.");
        int bands = Math.Max(1, Math.Min((h + BandRows - 1) / BandRows, 4 * KernelParallel.MaxThreads));
        fixed (float* src = lowRes)
        fixed (bool* dst = mask)
        {
            nint s = (nint)(src + (long)index * plane), d = (nint)dst;
            KernelParallel.For(bands, KernelParallel.MaxThreads, band =>
            {
                int y0 = (int)((long)h * band / bands), y1 = (int)((long)h * (band + 1) / bands);
                var up = RentUpsampler(plan);
                float[] row = _row is { } r && r.Length >= w ? r : (_row = GC.AllocateUninitializedArray<float>(w, pinned: true));
                up.Begin((float*)s);
                fixed (float* o = row)
                    for (int y = y0; y < y1; y++)
                    {
                        up.Row(y, o);
                        MaskThresholding.Threshold(new ReadOnlySpan<float>(o, w), new Span<bool>((bool*)d + (long)y * w, w), inclusive);
                    }
            });
        }
    }

    /// <summary>logits &gt; threshold, element by element.</summary>
    public static bool[] Threshold(ReadOnlySpan<float> logits, float threshold = MaskThreshold)
    {
        var mask = new bool[logits.Length];
        for (int i = 0; i < logits.Length; i++) mask[i] = logits[i] > threshold;
        return mask;
    }

    /// <summary>Mask <paramref name="index"/> of a batch of [count, H, W] logits, thresholded.</summary>
    public static bool[] Threshold(ReadOnlySpan<float> logits, int index, int height, int width, float threshold = MaskThreshold)
    {
        int plane = checked(height * width);
        return Threshold(logits.Slice(checked(index * plane), plane), threshold);
    }
}
