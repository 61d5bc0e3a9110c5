using SegmentAnything.Imaging;

namespace SegmentAnything.Tests.Imaging;

public class OverlayTests
{
    [Fact]
    public void BlendsEachMaskInItsOwnColourAndLeavesTheRest()
    {
        var img = new RgbImage(40, 40);
        Array.Fill(img.Pixels, (byte)100);
        var a = new bool[1600];
        var b = new bool[1600];
        a[0] = true;
        b[1599] = true;
        var result = Overlay.Draw(img, [a, b]);
        var (r0, g0, b0) = Overlay.Colour(0);
        var (r1, _, _) = Overlay.Colour(1);
        Assert.NotEqual(Overlay.Colour(0), Overlay.Colour(1));
        Assert.Equal((byte)MathF.Round(50 + r0 * 0.5f), result.Pixels[0]);
        Assert.Equal((byte)MathF.Round(50 + g0 * 0.5f), result.Pixels[1]);
        Assert.Equal((byte)MathF.Round(50 + b0 * 0.5f), result.Pixels[2]);
        Assert.Equal((byte)MathF.Round(50 + r1 * 0.5f), result.Pixels[1599 * 3]);
        Assert.Equal(100, result.Pixels[800 * 3]);
        Assert.All(img.Pixels, p => Assert.Equal(100, p)); // input untouched
        Assert.Throws<ArgumentException>(() => Overlay.Draw(img, [new bool[3]]));
    }

    [Fact]
    public void DrawsPromptMarkers()
    {
        var img = new RgbImage(100, 100);
        var result = Overlay.Draw(img, [], [new OverlayPoint(50, 50, true), new OverlayPoint(10, 10, false)], [new OverlayBox(20, 20, 80, 70)]);
        int At(int x, int y, int c) => result.Pixels[(y * 100 + x) * 3 + c];
        Assert.True(At(50, 50, 1) > 150 && At(50, 50, 0) < 50);  // green foreground point
        Assert.True(At(10, 10, 0) > 150 && At(10, 10, 1) < 50);  // red background point
        Assert.Equal(255, At(40, 20, 1));                          // box top edge
        Assert.Equal(0, At(40, 40, 1));                            // box interior untouched
    }
}
