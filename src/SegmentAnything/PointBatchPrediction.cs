namespace SegmentAnything;

/// <summary>
/// Low-resolution answers to many single-point prompts: logits [Count, MasksPerPoint, LowResHeight,
/// LowResWidth] and predicted IoUs [Count, MasksPerPoint]; turn a mask into full-size logits with
/// <see cref="SamPredictor.UpscaleMask"/>.
/// </summary>
public sealed record PointBatchPrediction(float[] LowResLogits, float[] Iou, int Count, int MasksPerPoint, int LowResHeight, int LowResWidth,
    bool InclusiveThreshold)
{
    public ReadOnlySpan<float> LowRes(int point, int mask)
    {
        int plane = LowResHeight * LowResWidth;
        return LowResLogits.AsSpan((point * MasksPerPoint + mask) * plane, plane);
    }

    /// <summary>The IoU filter the prediction was made with, if any: points whose masks all fail it have no logits.</summary>
    public float? IouThreshold { get; init; }

    /// <summary>Whether <see cref="LowRes"/> holds the decoder's logits for this mask (false only for masks below <see cref="IouThreshold"/>
    /// whose point had no mask above it).</summary>
    public bool HasLogits(int point, int mask)
    {
        if (IouThreshold is not float t) return true;
        var iou = Iou.AsSpan(point * MasksPerPoint, MasksPerPoint);
        foreach (float s in iou) if (s > t) return true;
        return false;
    }
}
