using SegmentAnything.Imaging;
using SegmentAnything.Tests.Support;
using Xunit.Abstractions;

namespace SegmentAnything.Tests.Imaging;

public class PilResizeTests(ITestOutputHelper output)
{
    [SkippableTheory]
    [InlineData("sam_vit_mini_random", "reference/image.png", 1024)]
    [InlineData("mobile_sam_random", "reference/image.png", 1024)]
    [InlineData("sam_vit_shapes", "scenes/scene0.png", 256)]
    public void ResizeLongestSideMatchesOfficialPixels(string model, string image, int target)
    {
        var reference = Fixtures.Reference(model);
        var expected = reference["resized_image"];
        var src = ImageIO.Load(Fixtures.Path_(image));
        Assert.Equal(reference["image_hw"].Integers, new long[] { src.Height, src.Width });

        var resized = new ResizeLongestSide(target).ApplyImage(src);

        Assert.Equal(expected.Shape, new[] { resized.Height, resized.Width, 3 });
        Assert.Equal(reference["input_hw"].Integers, new long[] { resized.Height, resized.Width });
        long[] want = expected.Integers!;
        int maxDiff = 0, differing = 0;
        for (int i = 0; i < want.Length; i++)
        {
            int d = Math.Abs(resized.Pixels[i] - (int)want[i]);
            if (d > 0) differing++;
            maxDiff = Math.Max(maxDiff, d);
        }
        output.WriteLine($"{model}: {src.Width}x{src.Height} -> {resized.Width}x{resized.Height}, max |diff| {maxDiff}, {differing} differing bytes");
        Assert.Equal(0, maxDiff);
    }

    [Fact]
    public void SameSizeIsACopy()
    {
        var img = Random(7, 5, 1);
        var same = PilResize.Bilinear(img, 7, 5);
        Assert.NotSame(img, same);
        Assert.Equal(img.Pixels, same.Pixels);
    }

    [Fact]
    public void ConstantImageStaysConstant()
    {
        var img = new RgbImage(13, 9);
        for (int i = 0; i < img.Pixels.Length; i += 3) (img.Pixels[i], img.Pixels[i + 1], img.Pixels[i + 2]) = (200, 17, 255);
        foreach (var (w, h) in new[] { (31, 9), (13, 30), (4, 3), (50, 2) })
        {
            var r = PilResize.Bilinear(img, w, h);
            for (int i = 0; i < r.Pixels.Length; i += 3)
                Assert.Equal((200, 17, 255), (r.Pixels[i], r.Pixels[i + 1], r.Pixels[i + 2]));
        }
    }

    [Fact]
    public void HalvingAveragesPairsWithTriangleWeights()
    {
        // 4 -> 2 columns: scale 2, support 2; output 0 centre 1.0 takes columns 0..2 with
        // triangle weights (0.75, 0.75, 0.25)/1.75 once normalised, Pillow's fixed point rounds the sum.
        var img = new RgbImage(4, 1, [0, 0, 0, 100, 100, 100, 200, 200, 200, 40, 40, 40]);
        var r = PilResize.Bilinear(img, 2, 1);
        double expected0 = (0 * 0.75 + 100 * 0.75 + 200 * 0.25) / 1.75;
        double expected1 = (100 * 0.25 + 200 * 0.75 + 40 * 0.75) / 1.75;
        Assert.Equal((int)Math.Round(expected0), r.Pixels[0]);
        Assert.Equal((int)Math.Round(expected1), r.Pixels[3]);
    }

    internal static RgbImage Random(int w, int h, int seed)
    {
        var img = new RgbImage(w, h);
        new Random(seed).NextBytes(img.Pixels);
        return img;
    }
}
