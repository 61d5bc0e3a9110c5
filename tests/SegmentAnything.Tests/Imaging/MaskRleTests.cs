using SegmentAnything.Imaging;

namespace SegmentAnything.Tests.Imaging;

public class MaskRleTests
{
    [Fact]
    public void EncodesColumnMajorStartingWithZeros()
    {
        // 2 x 3, row-major:   0 1 1
        //                      1 1 0   column-major: 0 1 | 1 1 | 1 0
        bool[] mask = [false, true, true, true, true, false];
        var rle = MaskRle.ToCocoRle(mask, 2, 3);
        Assert.Equal(new[] { 1, 4, 1 }, rle.Counts);
        Assert.Equal(4, rle.Area);
        var full = MaskRle.ToCocoRle([true, true, true, true], 2, 2);
        Assert.Equal(new[] { 0, 4 }, full.Counts);
        Assert.Equal(new[] { 4 }, MaskRle.ToCocoRle(new bool[4], 2, 2).Counts);
    }

    [Fact]
    public void CountsStringMatchesPycocotoolsByHand()
    {
        // 0 -> '0'; 5 -> '5'; 30 = 0b11110: low group 30 has its sign bit set, so a continuation
        // ('n' = 48 + 30 + 32) and a zero group ('0'); count 3 is stored as 1 - 5 = -4: group 28 -> 'L'.
        Assert.Equal("05n0L", MaskRle.CountsToString([0, 5, 30, 1]));
        Assert.Equal(new[] { 0, 5, 30, 1 }, MaskRle.CountsFromString("05n0L"));
        // 1000 = 0b11111_01000: groups 8 (+continuation -> 'X'), 31 (sign bit set, continue -> 'o'), 0.
        Assert.Equal("Xo0", MaskRle.CountsToString([1000]));
    }

    [Fact]
    public void RoundTripsRandomMasks()
    {
        var rnd = new Random(11);
        for (int trial = 0; trial < 20; trial++)
        {
            int h = rnd.Next(1, 40), w = rnd.Next(1, 40);
            var mask = new bool[h * w];
            // Blobs of runs so counts span small and large values.
            bool v = rnd.Next(2) == 1;
            for (int i = 0; i < mask.Length; i++)
            {
                if (rnd.Next(10) == 0) v = !v;
                mask[i] = v;
            }
            var rle = MaskRle.ToCocoRle(mask, h, w);
            Assert.Equal(h * w, rle.Counts.Sum());
            Assert.Equal(mask.Count(b => b), rle.Area);
            Assert.Equal(mask, MaskRle.Decode(rle));
            string s = MaskRle.CountsToString(rle.Counts);
            Assert.Equal(rle.Counts, MaskRle.CountsFromString(s));
        }
    }

    [Fact]
    public void RejectsMalformedInput()
    {
        Assert.Throws<FormatException>(() => MaskRle.CountsFromString("0 5"));
        Assert.Throws<FormatException>(() => MaskRle.CountsFromString("n"));
        Assert.Throws<FormatException>(() => MaskRle.Decode(new CocoRle(2, 2, [1, 2])));
        Assert.Throws<FormatException>(() => MaskRle.Decode(new CocoRle(2, 2, [5, -1])));
        Assert.Throws<ArgumentException>(() => MaskRle.ToCocoRle(new bool[5], 2, 2));
    }
}
