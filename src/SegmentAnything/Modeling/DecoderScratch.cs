namespace SegmentAnything.Modeling;

/// <summary>
/// Per-thread scratch for the decoder's per-prompt attention: each slot is one buffer that is dead
/// again before the same slot is asked for on that thread, so the hot path allocates nothing after
/// its first call.
/// </summary>
internal static class DecoderScratch
{
    public const int Scores = 0, TokenRows = 1, TokenRows2 = 2, ImageOut = 3, Small = 4, FactorRhs = 5, FactorSmall = 6, SoftmaxSums = 7, PeScores = 8;

    [ThreadStatic] private static float[]?[]? t_slots;

    /// <summary>A span of exactly <paramref name="length"/> floats with undefined contents.</summary>
    public static Span<float> Get(int slot, int length) => GetArray(slot, length).AsSpan(0, length);

    /// <summary>The slot's buffer itself (at least <paramref name="length"/> floats), for work handed to other threads.</summary>
    public static float[] GetArray(int slot, int length)
    {
        var slots = t_slots ??= new float[9][];
        ref float[]? b = ref slots[slot];
        if (b is null || b.Length < length) b = GC.AllocateUninitializedArray<float>(length);
        return b;
    }
}
