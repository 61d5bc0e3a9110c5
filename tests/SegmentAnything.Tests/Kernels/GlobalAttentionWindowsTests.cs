using SegmentAnything.Kernels;

namespace SegmentAnything.Tests.Kernels;

/// <summary>
/// <see cref="GlobalAttention.RunWindows"/> (windows gathered from image order through a row map) against
/// <see cref="GlobalAttention.Run(ReadOnlySpan{float}, int, int, int, int, int, int, int, int, float, Span{float}, int, RelPosTables?)"/>
/// on the same windows copied out in window order, padding tokens taken from one padding row.
/// </summary>
public class GlobalAttentionWindowsTests
{
    [SkippableTheory]
    [InlineData(5, 7, 3, 2, 16, true)]    // padded right and bottom windows
    [InlineData(6, 6, 3, 3, 8, false)]    // no padding, no rel-pos
    [InlineData(15, 15, 14, 2, 64, true)] // 196-token windows: a lone real column / row / corner token in the padded ones
    [InlineData(20, 9, 7, 5, 24, true)]   // more pairs than the threads take at once (prefetch of later pairs)
    [InlineData(64, 64, 14, 1, 64, true)] // ViT-B's grid: right windows pack 112 real queries into 3 full tiles + a half tile
    [InlineData(30, 23, 14, 1, 64, true)] // packed tiles spanning several window rows with a gap of padding columns
    public void MatchesTheWindowOrderComputation(int h, int w, int ws, int heads, int hd, bool rel)
    {
        Skip.IfNot(GlobalAttention.IsSupported, "512-bit GEMM kernels not available on this machine.");
        var rnd = new Random(h * 100 + w * 10 + ws + heads + hd);
        int width = heads * hd, ld = 3 * width + 3, n = h * w, tokens = ws * ws;
        int winRows = (h + ws - 1) / ws, winCols = (w + ws - 1) / ws, windows = winRows * winCols;
        float[] qkv = Random(rnd, n * ld), padRow = Random(rnd, ld);
        RelPosTables? tables = rel ? new RelPosTables(ws, ws,
            Gemm.PackB(Random(rnd, (2 * ws - 1) * hd), hd, 2 * ws - 1, hd, true),
            Gemm.PackB(Random(rnd, (2 * ws - 1) * hd), hd, 2 * ws - 1, hd, true)) : null;
        float scale = 1f / MathF.Sqrt(hd);

        var map = new int[windows * tokens];
        var windowOrder = new float[windows * tokens * ld];
        for (int wy = 0, at = 0; wy < winRows; wy++)
            for (int wx = 0; wx < winCols; wx++)
                for (int iy = 0; iy < ws; iy++)
                    for (int ix = 0; ix < ws; ix++, at++)
                    {
                        int y = wy * ws + iy, x = wx * ws + ix;
                        map[at] = y < h && x < w ? y * w + x : -1;
                        (map[at] >= 0 ? qkv.AsSpan(map[at] * ld, ld) : padRow.AsSpan()).CopyTo(windowOrder.AsSpan(at * ld));
                    }
        var expected = new float[windows * tokens * width];
        GlobalAttention.Run(windowOrder, ld, 0, width, 2 * width, windows, tokens, heads, hd, scale, expected, width, tables);

        int ldo = width + 2;
        var actual = new float[n * ldo];
        actual.AsSpan().Fill(float.NaN);
        GlobalAttention.RunWindows(qkv, ld, 0, width, 2 * width, padRow, map, windows, tokens, heads, hd, scale, actual, ldo, tables);

        for (int at = 0; at < map.Length; at++)
        {
            if (map[at] < 0) continue;
            for (int c = 0; c < width; c++)
                Assert.Equal(expected[at * width + c], actual[map[at] * ldo + c]);
            for (int c = width; c < ldo; c++) Assert.True(float.IsNaN(actual[map[at] * ldo + c]), "wrote past the output row");
        }
    }

    [SkippableFact]
    public void RejectsBadMaps()
    {
        Skip.IfNot(GlobalAttention.IsSupported, "512-bit GEMM kernels not available on this machine.");
        var qkv = new float[4 * 24];
        var pad = new float[24];
        var output = new float[4 * 8];
        Assert.Throws<ArgumentException>(() => GlobalAttention.RunWindows(qkv, 24, 0, 8, 16, pad, new[] { 0, 1, 2 }, 1, 4, 1, 8, 1f, output, 8, null));
        Assert.Throws<ArgumentOutOfRangeException>(() => GlobalAttention.RunWindows(qkv, 24, 0, 8, 16, pad, new[] { 0, 1, 2, -2 }, 1, 4, 1, 8, 1f, output, 8, null));
        Assert.ThrowsAny<ArgumentException>(() => GlobalAttention.RunWindows(qkv, 24, 0, 8, 16, pad, new[] { 0, 1, 2, 4 }, 1, 4, 1, 8, 1f, output, 8, null));
        Assert.Throws<ArgumentException>(() => GlobalAttention.RunWindows(qkv, 24, 0, 8, 16, new float[23], new[] { 0, 1, 2, 3 }, 1, 4, 1, 8, 1f, output, 8, null));
    }

    private static float[] Random(Random rnd, int count)
    {
        var x = new float[count];
        for (int i = 0; i < count; i++) x[i] = (float)(rnd.NextDouble() * 2 - 1);
        return x;
    }
}
