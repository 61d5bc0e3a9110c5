using System.Text.Json;
using SegmentAnything.Imaging;

namespace SegmentAnything.Tests.Annotation;

/// <summary>Checks a COCO instances file the way loaders (pycocotools, detectron2) rely on it.</summary>
internal static class CocoValidator
{
    public static void Validate(JsonElement coco)
    {
        foreach (string key in new[] { "images", "annotations", "categories" })
            Assert.Equal(JsonValueKind.Array, coco.GetProperty(key).ValueKind);
        var images = coco.GetProperty("images").EnumerateArray().ToDictionary(i => i.GetProperty("id").GetInt64(), i => (H: i.GetProperty("height").GetInt32(), W: i.GetProperty("width").GetInt32()));
        Assert.Equal(coco.GetProperty("images").GetArrayLength(), images.Count);
        var categories = coco.GetProperty("categories").EnumerateArray().Select(c => c.GetProperty("id").GetInt64()).ToHashSet();
        Assert.All(coco.GetProperty("categories").EnumerateArray(), c => Assert.False(string.IsNullOrEmpty(c.GetProperty("name").GetString())));
        var ids = new HashSet<long>();
        foreach (var a in coco.GetProperty("annotations").EnumerateArray())
        {
            Assert.True(ids.Add(a.GetProperty("id").GetInt64()), "duplicate annotation id");
            var (h, w) = images[a.GetProperty("image_id").GetInt64()];
            Assert.Contains(a.GetProperty("category_id").GetInt64(), categories);
            Assert.Contains(a.GetProperty("iscrowd").GetInt32(), new[] { 0, 1 });
            long area = a.GetProperty("area").GetInt64();
            Assert.True(area > 0);
            var bbox = a.GetProperty("bbox").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            Assert.Equal(4, bbox.Length);
            Assert.True(bbox[0] >= 0 && bbox[1] >= 0 && bbox[2] > 0 && bbox[3] > 0 && bbox[0] + bbox[2] <= w && bbox[1] + bbox[3] <= h, $"bbox {string.Join(",", bbox)} outside {w}x{h}");
            var seg = a.GetProperty("segmentation");
            if (seg.ValueKind == JsonValueKind.Object)
            {
                Assert.Equal([h, w], seg.GetProperty("size").EnumerateArray().Select(v => v.GetInt32()).ToArray());
                var rle = new CocoRle(h, w, MaskRle.CountsFromString(seg.GetProperty("counts").GetString()!));
                var mask = MaskRle.Decode(rle);
                Assert.Equal(area, mask.LongCount(b => b));
                var (bx, by, bw, bh) = MaskStats.BoundingBox(mask, h, w);
                Assert.Equal(new double[] { bx, by, bw, bh }, bbox);
            }
            else
            {
                Assert.Equal(JsonValueKind.Array, seg.ValueKind);
                Assert.True(seg.GetArrayLength() > 0, "an annotation without polygons");
                foreach (var poly in seg.EnumerateArray())
                {
                    var v = poly.EnumerateArray().Select(e => e.GetDouble()).ToArray();
                    Assert.True(v.Length >= 6 && v.Length % 2 == 0, $"polygon with {v.Length} numbers");
                    for (int i = 0; i < v.Length; i += 2) Assert.True(v[i] >= 0 && v[i] <= w && v[i + 1] >= 0 && v[i + 1] <= h);
                }
            }
        }
    }
}
