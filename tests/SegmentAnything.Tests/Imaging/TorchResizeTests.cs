using SegmentAnything.Imaging;
using SegmentAnything.Tests.Support;
using Xunit.Abstractions;

namespace SegmentAnything.Tests.Imaging;

public class TorchResizeTests(ITestOutputHelper output)
{
    private static readonly float[] TwoByTwo = [1, 2, 3, 4];

    [Fact]
    public void BilinearUpsample2x2To4x4MatchesTorch()
    {
        // torch.nn.functional.interpolate(tensor([[1., 2.], [3., 4.]])[None, None], (4, 4), mode="bilinear")
        float[] expected =
        [
            1.00f, 1.25f, 1.75f, 2.00f,
            1.50f, 1.75f, 2.25f, 2.50f,
            2.50f, 2.75f, 3.25f, 3.50f,
            3.00f, 3.25f, 3.75f, 4.00f,
        ];
        Assert.Equal(expected, TorchResize.Bilinear(TwoByTwo, 1, 2, 2, 4, 4));
    }

    [Fact]
    public void BicubicUpsample2x2To4x4MatchesTorch()
    {
        // Same with mode="bicubic": A = -0.75, out-of-range taps clamp to the border.
        // Row 0 of the 1-D pass: 1 + w3 with w3 = cubic(1.25) = -0.10546875, and so on.
        float[] expected =
        [
            0.68359375f, 1.015625f, 1.5625f, 1.89453125f,
            1.34765625f, 1.6796875f, 2.2265625f, 2.55859375f,
            2.44140625f, 2.7734375f, 3.3203125f, 3.65234375f,
            3.10546875f, 3.4375f, 3.984375f, 4.31640625f,
        ];
        float[] actual = TorchResize.Bicubic(TwoByTwo, 1, 2, 2, 4, 4);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 6);
    }

    [Fact]
    public void BilinearDownsampleUsesClampedHalfPixelIndex()
    {
        // 1 x 5 -> 1 x 2: scale 2.5, source x = 2.5 * (i + 0.5) - 0.5 = 0.75 and 3.25.
        float[] row = [0, 10, 20, 30, 40];
        var r = TorchResize.Bilinear(row, 1, 1, 5, 1, 2);
        Assert.Equal(7.5f, r[0], 5);
        Assert.Equal(32.5f, r[1], 5);
        // Upsampling 1 x 2 -> 1 x 5: x = 0.4 * (i + 0.5) - 0.5, negative indices clamp to 0.
        var u = TorchResize.Bilinear([0f, 10f], 1, 1, 2, 1, 5);
        float[] want = [0f, 1f, 5f, 9f, 10f];
        for (int i = 0; i < 5; i++) Assert.Equal(want[i], u[i], 5);
    }

    [Fact]
    public void ChannelsAreIndependentAndSameSizeIsIdentity()
    {
        var rnd = new Random(3);
        var src = new float[3 * 7 * 9];
        for (int i = 0; i < src.Length; i++) src[i] = (float)rnd.NextDouble() * 10 - 5;
        Assert.Equal(src, TorchResize.Bilinear(src, 3, 7, 9, 7, 9));
        Assert.Equal(src, TorchResize.Bicubic(src, 3, 7, 9, 7, 9));
        var all = TorchResize.Bilinear(src, 3, 7, 9, 20, 13);
        var second = TorchResize.Bilinear(src.AsSpan(63, 63), 1, 7, 9, 20, 13);
        Assert.Equal(second, all.AsSpan(260, 260).ToArray());
    }

    [Fact]
    public void RejectsBadSizes()
    {
        Assert.Throws<ArgumentException>(() => TorchResize.Bilinear(new float[3], 1, 2, 2, 4, 4));
        Assert.Throws<ArgumentException>(() => TorchResize.Bicubic(new float[4], 1, 2, 2, 0, 4));
    }

    [SkippableFact]
    public void EfficientSamInputMatchesOfficialRows()
    {
        var reference = Fixtures.Reference("efficient_sam_vitt_random");
        var rows = reference["debug.input_rows"];
        Assert.Equal(new[] { 1, 3, 16, 1024 }, rows.Shape);
        var image = ImageIO.Load(Fixtures.Path_("reference/image.png"));

        var input = EfficientSamPreprocess.ToInputTensor(image);

        Assert.Equal(new[] { 3, 1024, 1024 }, input.Shape);
        double maxDiff = 0;
        int exact = 0;
        for (int c = 0; c < 3; c++)
            for (int r = 0; r < 16; r++)
                for (int x = 0; x < 1024; x++)
                {
                    float want = rows.Floats[(c * 16 + r) * 1024 + x];
                    float got = input.Data[(c * 1024 + r * 64) * 1024 + x];
                    if (want == got) exact++;
                    maxDiff = Math.Max(maxDiff, Math.Abs(want - got));
                }
        output.WriteLine($"EfficientSAM input rows: max |diff| {maxDiff:E3}, bit-exact {exact}/{3 * 16 * 1024}");
        Assert.True(maxDiff < 1e-5, $"max |diff| {maxDiff:E3}");
    }
}
