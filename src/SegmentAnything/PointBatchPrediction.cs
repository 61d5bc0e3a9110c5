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
}
