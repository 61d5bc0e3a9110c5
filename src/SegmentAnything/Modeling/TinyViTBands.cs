using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>
/// Runs a chain of per-pixel kernels band by band: each band (a few image rows) goes through the whole
/// chain on one thread while its intermediates stay in that core's cache, and the threads take bands
/// from a shared counter. This replaces whole-map passes (GEMM, then GELU, then the next GEMM) that
/// each stream tens of megabytes through memory and wait for every thread in between.
/// </summary>
internal static class TinyViTBands
{
    /// <summary>Pixels per band to aim for: a band's widest intermediate (≤ 1280 channels) stays within L2.</summary>
    private const int TargetPixels = 256;

    /// <summary>Calls body(row0, row1) over bands of whole rows of a map <paramref name="width"/> pixels wide.</summary>
    public static void Run(int rows, int width, Action<int, int> body)
    {
        int perBand = Math.Clamp(TargetPixels / Math.Max(1, width), 1, Math.Max(1, rows));
        // A band of whole GEMM micro-panels (pixels a multiple of MR) leaves no ragged row panel, which
        // would cost a full-height tile and a scalar store per column panel in every band's products.
        int mr = GemmIsaInfo.Mr(GemmIsaInfo.Best);
        for (int p = perBand; p > perBand / 2; p--)
            if ((long)p * width % mr == 0) { perBand = p; break; }
        int bands = (rows + perBand - 1) / perBand;
        KernelParallel.ForEachSerial(bands, b => body(b * perBand, Math.Min(rows, (b + 1) * perBand)));
    }

    [ThreadStatic] private static float[][]? _slots;

    /// <summary>A per-thread buffer of at least <paramref name="size"/> floats, reused between calls (contents undefined).</summary>
    public static float[] Scratch(int slot, int size)
    {
        var slots = _slots ??= new float[4][];
        float[]? buf = slots[slot];
        if (buf is null || buf.Length < size) slots[slot] = buf = GC.AllocateUninitializedArray<float>(size);
        return buf;
    }
}
