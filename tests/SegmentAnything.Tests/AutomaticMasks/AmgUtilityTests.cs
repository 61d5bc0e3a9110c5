using SegmentAnything.AutomaticMasks;
using SegmentAnything.Imaging;
using Xunit;

namespace SegmentAnything.Tests.AutomaticMasks;

public class AmgUtilityTests
{
    [Fact]
    public void PointGridIsCellCentresXFastest()
    {
        double[] g = AmgGeometry.BuildPointGrid(4);
        Assert.Equal(32, g.Length);
        double[] side = [0.125, 0.375, 0.625, 0.875];
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++)
            {
                Assert.Equal(side[x], g[2 * (4 * y + x)], 15);
                Assert.Equal(side[y], g[2 * (4 * y + x) + 1], 15);
            }
        Assert.Equal([0.5, 0.5], AmgGeometry.BuildPointGrid(1));
        var layers = AmgGeometry.BuildAllLayerPointGrids(7, 2, 2);
        Assert.Equal([7 * 7 * 2, 3 * 3 * 2, 1 * 1 * 2], layers.Select(l => l.Length));
    }

    [Fact]
    public void CropBoxesOnOddSizes()
    {
        // Hand-computed from generate_crop_boxes for a 301x203 (w x h) image, overlap 512/1500.
        var boxes = AmgGeometry.GenerateCropBoxes(203, 301, 2, 512.0 / 1500);
        Assert.Equal(1 + 4 + 16, boxes.Count);
        Assert.Equal((new BoxXyxy(0, 0, 301, 203), 0), boxes[0]);
        // Layer 1: overlap int(0.3413·203·1) = 69; crop_w = ceil((69 + 301) / 2) = 185, crop_h = ceil((69 + 203) / 2) = 136.
        Assert.Equal(new BoxXyxy(0, 0, 185, 136), boxes[1].Box);
        Assert.Equal(new BoxXyxy(0, 67, 185, 203), boxes[2].Box);   // x-major: y varies first
        Assert.Equal(new BoxXyxy(116, 0, 301, 136), boxes[3].Box);
        Assert.Equal(new BoxXyxy(116, 67, 301, 203), boxes[4].Box);
        Assert.All(boxes.Skip(1).Take(4), b => Assert.Equal(1, b.Layer));
        // Layer 2: overlap int(0.3413·203·0.5) = 34; crop_w = ceil((3·34 + 301) / 4) = 101, crop_h = ceil((3·34 + 203) / 4) = 77.
        var l2 = boxes.Skip(5).Select(b => b.Box).ToList();
        Assert.Equal(new BoxXyxy(0, 0, 101, 77), l2[0]);
        Assert.Equal(new BoxXyxy(0, 43, 101, 120), l2[1]);
        Assert.Equal(new BoxXyxy(0, 129, 101, 203), l2[3]);
        Assert.Equal(new BoxXyxy(201, 129, 301, 203), l2[15]);
        Assert.All(boxes.Skip(5), b => Assert.Equal(2, b.Layer));
    }

    [Fact]
    public void StabilityScoreCountsStrictlyAboveBothCutoffs()
    {
        float[] logits = [-2f, -1f, -0.5f, 0f, 0.5f, 1f, 1.5f, 3f, 2f];
        // > 1: {1.5, 3, 2} = 3; > -1: {-0.5, 0, 0.5, 1, 1.5, 3, 2} = 7.
        Assert.Equal(3f / 7f, AmgGeometry.StabilityScore(logits, 0f, 1f));
        var many = Enumerable.Range(0, 1000).Select(i => (i - 500) / 100f).ToArray();
        // > 1: 1.01..4.99 = 399; > -1: -0.99..4.99 = 599.
        Assert.Equal(399f / 599f, AmgGeometry.StabilityScore(many, 0f, 1f));
        Assert.True(float.IsNaN(AmgGeometry.StabilityScore([-5f, -5f], 0f, 1f)));
    }

    [Fact]
    public void NmsKeepsHighestFirstAndBreaksTiesByInputOrder()
    {
        var boxes = new List<BoxXyxy> { new(0, 0, 10, 10), new(1, 1, 11, 11), new(50, 50, 60, 60), new(0, 0, 10, 10), new(100, 100, 110, 110) };
        float[] scores = [0.5f, 0.9f, 0.7f, 0.9f, 0.7f];
        // Order: 1 (0.9), 3 (0.9, later index), 2 (0.7), 4 (0.7), 0. Box 3 overlaps 1 at IoU 81/119 = 0.68.
        Assert.Equal([1, 3, 2, 4], BoxNms.Run(boxes, scores, 0.7f));
        Assert.Equal([1, 2, 4], BoxNms.Run(boxes, scores, 0.6f));
        // IoU exactly at the threshold is kept (suppression needs IoU > threshold).
        Assert.Equal([0, 1], BoxNms.Run([new(0, 0, 10, 10), new(0, 0, 10, 5)], [1f, 0.5f], 0.5f));
        Assert.Empty(BoxNms.Run([], [], 0.5f));
    }

    [Fact]
    public void UncropPlacesMaskAndEdgeFilterIgnoresImageEdges()
    {
        bool[] crop = [true, false, false, true, true, false]; // 2x3
        var full = AmgGeometry.UncropMask(crop, new BoxXyxy(1, 2, 4, 4), 5, 6);
        for (int y = 0; y < 5; y++)
            for (int x = 0; x < 6; x++)
            {
                bool inside = x is >= 1 and < 4 && y is >= 2 and < 4;
                Assert.Equal(inside && crop[(y - 2) * 3 + x - 1], full[y * 6 + x]);
            }
        var image = new BoxXyxy(0, 0, 1000, 800);
        var cropBox = new BoxXyxy(0, 0, 600, 500);
        Assert.False(AmgGeometry.IsBoxNearCropEdge(new BoxXyxy(0, 0, 100, 100), cropBox, image));   // image edges only
        Assert.True(AmgGeometry.IsBoxNearCropEdge(new BoxXyxy(100, 100, 590, 200), cropBox, image)); // crop's right edge
        Assert.False(AmgGeometry.IsBoxNearCropEdge(new BoxXyxy(100, 100, 579, 200), cropBox, image));
        // Offsets apply: a box in a shifted crop is uncropped before the comparison.
        Assert.True(AmgGeometry.IsBoxNearCropEdge(new BoxXyxy(5, 100, 50, 200), new BoxXyxy(400, 0, 1000, 500), image));
    }

    [Fact]
    public void ConnectedComponentsUseEightConnectivityAndRasterOrder()
    {
        string[] rows =
        [
            "#..#",
            ".#..",
            "....",
            "##.#",
        ];
        var (mask, h, w) = Parse(rows);
        var (labels, sizes) = ConnectedComponents.Label(mask, h, w);
        Assert.Equal([10, 2, 1, 2, 1], sizes);
        Assert.Equal(1, labels[0]);
        Assert.Equal(1, labels[5]);   // diagonal neighbour joins
        Assert.Equal(2, labels[3]);
        Assert.Equal(3, labels[12]);
        Assert.Equal(4, labels[15]);
    }

    [Fact]
    public void SmallRegionsFillHolesAndDropIslandsAtBorders()
    {
        string[] rows =
        [
            "#.......",
            "..####..",
            "..#..#..",
            "..####..",
            ".......#",
        ];
        var (mask, h, w) = Parse(rows);
        var (noHoles, changedHoles) = ConnectedComponents.RemoveSmallRegions(mask, h, w, 3, holes: true);
        Assert.True(changedHoles);
        Assert.True(noHoles[2 * w + 3] && noHoles[2 * w + 4]);
        var (clean, changedIslands) = ConnectedComponents.RemoveSmallRegions(noHoles, h, w, 3, holes: false);
        Assert.True(changedIslands);
        Assert.False(clean[0]);
        Assert.False(clean[4 * w + 7]);
        Assert.Equal(12, clean.Count(b => b));
        // Nothing to do: unchanged.
        Assert.False(ConnectedComponents.RemoveSmallRegions(clean, h, w, 3, holes: false).Changed);
        // Every island small: the largest is kept.
        var (largest, _) = ConnectedComponents.RemoveSmallRegions(mask, h, w, 100, holes: false);
        Assert.Equal(10, largest.Count(b => b));
    }

    [Fact]
    public void CocoStringOfKnownEncoding()
    {
        // pycocotools: rleToString of counts [3, 2, 4] is "324"; of [0, 5, 10, 5] is "05:0" (10-0 = 10 -> ':'; 5-5 = 0 -> '0').
        Assert.Equal("324", MaskRle.CountsToString([3, 2, 4]));
        Assert.Equal("05:0", MaskRle.CountsToString([0, 5, 10, 5]));
        var rle = new CocoRle(3, 4, [2, 3, 1, 4, 2]);
        Assert.Equal(rle.Counts, MaskRle.ToCocoRle(MaskRle.Decode(rle), 3, 4).Counts);
        Assert.Equal(rle.Counts, MaskRle.CountsFromString(MaskRle.CountsToString(rle.Counts)));
    }

    internal static (bool[] Mask, int H, int W) Parse(string[] rows)
    {
        int h = rows.Length, w = rows[0].Length;
        var m = new bool[h * w];
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) m[y * w + x] = rows[y][x] == '#';
        return (m, h, w);
    }
}
