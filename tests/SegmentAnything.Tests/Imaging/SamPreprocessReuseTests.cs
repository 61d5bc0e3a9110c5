using SegmentAnything.Imaging;
using SegmentAnything.Tensors;

namespace SegmentAnything.Tests.Imaging;

public class SamPreprocessReuseTests
{
    private static RgbImage Image(int w, int h, int seed)
    {
        var img = new RgbImage(w, h);
        new Random(seed).NextBytes(img.Pixels);
        return img;
    }

    [Fact]
    public void ReusedDestinationEqualsAFreshTensor()
    {
        var destination = new float[3 * 64 * 64];
        Array.Fill(destination, float.NaN);
        // A wide image, then a tall one: the second must clear what the first wrote into its padding.
        foreach (var img in new[] { Image(64, 40, 1), Image(37, 64, 2), Image(64, 64, 3) })
        {
            SamPreprocess.ToInputTensor(img, 64, destination);
            Assert.Equal(SamPreprocess.ToInputTensor(img, 64).Data, destination);
        }
    }

    [Fact]
    public void WrongDestinationShapeIsRefused() =>
        Assert.Throws<ArgumentException>(() => SamPreprocess.ToInputTensor(Image(10, 10, 1), 64, new float[3 * 32 * 32]));

    [Fact]
    public void EfficientSamReusedDestinationEqualsAFreshTensor()
    {
        var destination = new Tensor(3, 1024, 1024);
        Array.Fill(destination.Data, float.NaN);
        foreach (var img in new[] { Image(301, 157, 4), Image(1024, 1024, 5), Image(90, 200, 6) })
        {
            EfficientSamPreprocess.ToInputTensor(img, destination);
            var fresh = EfficientSamPreprocess.ToInputTensor(img).Data;
            Assert.True(fresh.AsSpan().SequenceEqual(destination.Data), "reused input differs");
        }
    }
}
