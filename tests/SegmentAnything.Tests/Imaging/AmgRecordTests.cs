using System.Text.Json;
using SegmentAnything.Imaging;
using SegmentAnything.Tests.Support;

namespace SegmentAnything.Tests.Imaging;

/// <summary>The official generator's records: our RLE, area and box agree with its own for every mask.</summary>
public class AmgRecordTests
{
    [SkippableFact]
    public void RleAreaAndBoxAgreeWithOfficialRecords()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Fixtures.Path_("amg/sam_vit_shapes.json")));
        int records = 0;
        foreach (var config in doc.RootElement.GetProperty("configs").EnumerateObject())
        {
            foreach (var record in config.Value.GetProperty("records").EnumerateArray())
            {
                var seg = record.GetProperty("segmentation");
                int h = seg.GetProperty("size")[0].GetInt32(), w = seg.GetProperty("size")[1].GetInt32();
                int[] counts = seg.GetProperty("counts").EnumerateArray().Select(c => c.GetInt32()).ToArray();

                var mask = MaskRle.Decode(new CocoRle(h, w, counts));
                Assert.Equal(counts, MaskRle.ToCocoRle(mask, h, w).Counts);
                Assert.Equal(counts, MaskRle.CountsFromString(MaskRle.CountsToString(counts)));
                Assert.Equal(record.GetProperty("area").GetInt32(), MaskStats.Area(mask));
                var bbox = record.GetProperty("bbox").EnumerateArray().Select(v => (int)v.GetDouble()).ToArray();
                var (x, y, bw, bh) = MaskStats.BoundingBox(mask, h, w);
                Assert.Equal(bbox, new[] { x, y, bw, bh });
                records++;
            }
        }
        Assert.True(records > 10);
    }
}
