using SegmentAnything.Kernels;

namespace SegmentAnything.Tests.Kernels;

/// <summary>A-panel packing (vector transposes and copies on whole panels, scalar edges) against the layout definition.</summary>
public unsafe class GemmPackingTests
{
    [Theory]
    [InlineData(12, 12, 64)]
    [InlineData(12, 12, 23)]
    [InlineData(12, 12, 7)]
    [InlineData(11, 12, 17)]
    [InlineData(4, 4, 9)]
    [InlineData(8, 8, 16)]
    [InlineData(8, 8, 1)]
    [InlineData(3, 8, 33)]
    [InlineData(6, 6, 24)]
    [InlineData(1, 12, 8)]
    public void APanelMatchesDefinition(int rows, int mr, int kc)
    {
        var rnd = new Random(rows * 131 + mr * 17 + kc);
        const int i0 = 3, p0 = 5;
        foreach (bool transposed in new[] { false, true })
        {
            // Stored matrix: A rows (or, transposed, A columns) of stride ld with slack past the used block.
            int ld = (transposed ? i0 + rows : p0 + kc) + 7, storedRows = transposed ? p0 + kc : i0 + rows;
            var stored = new float[storedRows * ld];
            for (int i = 0; i < stored.Length; i++) stored[i] = (float)rnd.NextDouble() - 0.5f;
            var packed = new float[kc * mr];
            packed.AsSpan().Fill(float.NaN);
            fixed (float* ps = stored) fixed (float* pd = packed)
                GemmPacking.PackAPanel(new MatrixRef(ps, ld, transposed), i0, rows, p0, kc, mr, pd);
            for (int p = 0; p < kc; p++)
                for (int i = 0; i < mr; i++)
                {
                    float expected = i >= rows ? 0f : transposed ? stored[(p0 + p) * ld + i0 + i] : stored[(i0 + i) * ld + p0 + p];
                    Assert.Equal(expected, packed[p * mr + i]);
                }
        }
    }
}
