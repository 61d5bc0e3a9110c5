using SegmentAnything.Imaging;

namespace SegmentAnything.Tests.Imaging;

public class MaskStatsTests
{
    [Fact]
    public void BoxIsInclusiveXyxyAndXywhWithoutPlusOne()
    {
        int h = 6, w = 7;
        var mask = new bool[h * w];
        mask[1 * w + 2] = true;
        mask[4 * w + 5] = true;
        mask[3 * w + 3] = true;
        Assert.Equal((2, 1, 5, 4), MaskStats.BoundingBoxXyxy(mask, h, w));
        Assert.Equal((2, 1, 3, 3), MaskStats.BoundingBox(mask, h, w));
        Assert.Equal(3, MaskStats.Area(mask));
    }

    [Fact]
    public void SinglePixelAndEmptyMasks()
    {
        var mask = new bool[12];
        Assert.Equal((0, 0, 0, 0), MaskStats.BoundingBox(mask, 3, 4));
        Assert.Equal(0, MaskStats.Area(mask));
        mask[11] = true;
        Assert.Equal((3, 2, 0, 0), MaskStats.BoundingBox(mask, 3, 4));
    }
}
