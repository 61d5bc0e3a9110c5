namespace SegmentAnything;

/// <summary>
/// The answer to one prompt: <see cref="Count"/> masks at the original image size (row-major,
/// thresholded, or logits when asked for), their predicted IoU scores, and the low-resolution logits.
/// </summary>
public sealed class MaskResult
{
    public int Count { get; }
    public int Height { get; }
    public int Width { get; }
    public float[] Scores { get; }

    /// <summary>[Count, LowResHeight, LowResWidth] logits; feed one back as a mask input.</summary>
    public float[] LowResLogits { get; }
    public int LowResHeight { get; }
    public int LowResWidth { get; }

    /// <summary>[Count, Height, Width] upsampled logits (always kept: thresholding is at 0).</summary>
    public float[] Logits { get; }

    public MaskResult(int count, int height, int width, float[] scores, float[] logits, float[] lowRes, int lowH, int lowW)
    {
        (Count, Height, Width, Scores, Logits, LowResLogits, LowResHeight, LowResWidth) = (count, height, width, scores, logits, lowRes, lowH, lowW);
    }

    /// <summary>Mask <paramref name="index"/> as booleans, logit &gt; threshold (0 for SAM, ≥ 0 for EfficientSAM).</summary>
    public bool[] Mask(int index)
    {
        var m = new bool[Height * Width];
        ReadOnlySpan<float> l = Logits.AsSpan(index * Height * Width, Height * Width);
        for (int i = 0; i < m.Length; i++) m[i] = InclusiveThreshold ? l[i] >= 0f : l[i] > 0f;
        return m;
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
