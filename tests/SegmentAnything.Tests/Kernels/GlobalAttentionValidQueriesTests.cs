using SegmentAnything.Kernels;
using static SegmentAnything.Tests.Kernels.KernelReference;

namespace SegmentAnything.Tests.Kernels;

/// <summary>
/// Skipping the query tiles past a sequence's valid count (padded windows) must leave every wanted row
/// bit-identical to the full computation and must not touch the skipped tiles' rows.
/// </summary>
public class GlobalAttentionValidQueriesTests
{
    // ViT-B's bottom windows (112 and 106 of 196 rows real: a partial tile, then three skipped tiles), a
    // count on a tile boundary, zero (the whole window skipped) and n; one long sequence takes the
    // pack-every-head path.
    [SkippableTheory]
    [InlineData(4, 196, 2, 64, 14, 14, new[] { 196, 112, 106, 0 })]
    [InlineData(3, 49, 3, 24, 7, 7, new[] { 32, 1, 49 })]
    [InlineData(1, 300, 2, 64, 0, 0, new[] { 97 })]
    [InlineData(1, 140, 1, 32, 2, 70, new[] { 64 })]
    public void WantedRowsAreBitIdenticalAndSkippedRowsUntouched(int sequences, int n, int heads, int hd, int relH, int relW, int[] valid)
    {
        Skip.IfNot(GlobalAttention.IsSupported, "512-bit GEMM kernels not available on this machine.");
        var rnd = new Random(n * 17 + heads + sequences);
        int width = heads * hd, ld = 3 * width + 5, ldo = width + 3, rows = sequences * n;
        float[] qkv = Random(rnd, rows * ld, 2f);
        RelPosTables? rel = relH == 0 ? null : new RelPosTables(relH, relW,
            Gemm.PackB(Random(rnd, (2 * relH - 1) * hd, 0.5f), hd, 2 * relH - 1, hd, true),
            Gemm.PackB(Random(rnd, (2 * relW - 1) * hd, 0.5f), hd, 2 * relW - 1, hd, true));
        float scale = 1f / MathF.Sqrt(hd);
        var full = new float[rows * ldo];
        var partial = new float[rows * ldo];
        partial.AsSpan().Fill(float.NaN);

        GlobalAttention.Run(qkv, ld, 2, 2 + width, 2 + 2 * width, sequences, n, heads, hd, scale, full, ldo, rel);
        GlobalAttention.Run(qkv, ld, 2, 2 + width, 2 + 2 * width, sequences, n, heads, hd, scale, partial, ldo, rel, valid);

        int skipped = 0;
        for (int s = 0; s < sequences; s++)
        {
            int firstSkipped = (valid[s] + 31) / 32 * 32;
            for (int i = 0; i < n; i++)
                for (int c = 0; c < width; c++)
                {
                    float p = partial[(s * n + i) * ldo + c], f = full[(s * n + i) * ldo + c];
                    if (i < valid[s]) Assert.True(BitConverter.SingleToInt32Bits(p) == BitConverter.SingleToInt32Bits(f),
                        $"sequence {s} row {i} column {c}: {p} vs {f}");
                    else if (i >= firstSkipped) { Assert.True(float.IsNaN(p), $"skipped row {i} was written"); skipped++; }
                }
        }
        Assert.True(valid.Any(v => v < n) == (skipped > 0));
    }

    [SkippableFact]
    public void RejectsBadCounts()
    {
        Skip.IfNot(GlobalAttention.IsSupported, "512-bit GEMM kernels not available on this machine.");
        var qkv = new float[2 * 10 * 24];
        var output = new float[2 * 10 * 8];
        Assert.Throws<ArgumentException>(() =>
            GlobalAttention.Run(qkv, 24, 0, 8, 16, 2, 10, 1, 8, 1f, output, 8, null, new[] { 10 }));
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            GlobalAttention.Run(qkv, 24, 0, 8, 16, 2, 10, 1, 8, 1f, output, 8, null, new[] { 10, 11 }));
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            GlobalAttention.Run(qkv, 24, 0, 8, 16, 2, 10, 1, 8, 1f, output, 8, null, new[] { -1, 3 }));
    }
}
