using SegmentAnything.Imaging;

namespace SegmentAnything.Tests.Imaging;

public class PreprocessTests
{
    [Theory]
    [InlineData(534, 800, 1024, 684, 1024)]
    [InlineData(360, 480, 256, 192, 256)]
    [InlineData(1200, 1800, 1024, 683, 1024)]
    [InlineData(1000, 10, 1024, 1024, 10)]   // 10 * 1.024 = 10.24 -> 10
    [InlineData(3, 2, 1024, 1024, 683)]      // 2 * 341.33 = 682.67 -> 683
    public void PreprocessShapeRoundsHalfUp(int h, int w, int target, int expectH, int expectW)
    {
        Assert.Equal((expectH, expectW), ResizeLongestSide.GetPreprocessShape(h, w, target));
    }

    [Fact]
    public void CoordinatesScalePerAxisInDoubleThenRoundToFloat()
    {
        var t = new ResizeLongestSide(1024);
        var xy = t.ApplyCoords([240.0, 320.4], (534, 800));
        Assert.Equal((float)(240.0 * (1024.0 / 800)), xy[0]);
        Assert.Equal((float)(320.4 * (684.0 / 534)), xy[1]);
        var box = t.ApplyBoxes([160.0, 106.8, 560.0, 480.6], (534, 800));
        Assert.Equal(4, box.Length);
        Assert.Equal((float)(480.6 * (684.0 / 534)), box[3]);
        var torch = t.ApplyCoordsTorch([240f, 320.4f], (534, 800));
        Assert.Equal(320.4f * (float)(684.0 / 534), torch[1]);
        Assert.Throws<ArgumentException>(() => t.ApplyCoords([1.0, 2.0, 3.0], (534, 800)));
    }

    [Fact]
    public void SamInputIsNormalisedThenZeroPadded()
    {
        var img = new RgbImage(3, 2, [0, 128, 255, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150]);
        var t = SamPreprocess.ToInputTensor(img, 4);
        Assert.Equal(new[] { 3, 4, 4 }, t.Shape);
        Assert.Equal((0f - 123.675f) / 58.395f, t.Data[0]);
        Assert.Equal((128f - 116.28f) / 57.12f, t.Data[16]);
        Assert.Equal((255f - 103.53f) / 57.375f, t.Data[32]);
        // pixel (x=1, y=1) = bytes 12..14
        Assert.Equal((110f - 116.28f) / 57.12f, t.Data[16 + 1 * 4 + 1]);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 4; y++)
                for (int x = 0; x < 4; x++)
                    if (x >= 3 || y >= 2) Assert.Equal(0f, t.Data[c * 16 + y * 4 + x]);
        Assert.Throws<ArgumentException>(() => SamPreprocess.ToInputTensor(img, 2));
    }

    [Fact]
    public void EfficientSamInputOfA1024ImageIsOnlyNormalised()
    {
        var img = new RgbImage(1024, 1024);
        new Random(5).NextBytes(img.Pixels);
        var t = EfficientSamPreprocess.ToInputTensor(img);
        int i = 1234 * 3 + 1;
        Assert.Equal((img.Pixels[i] / 255f - 0.456f) / 0.224f, t.Data[1024 * 1024 + 1234]);
    }
}
