using System.Text.Json;
using SegmentAnything.Imaging;

namespace SegmentAnything.Server.Annotation;

/// <summary>
/// Brings COCO instances annotations into a project: images are matched by <c>file_name</c> against
/// the project's images, categories by name; segmentations may be RLE (compact or plain counts) or
/// polygons, which are rasterised at pixel centres (even-odd rule).
/// </summary>
public static class CocoImport
{
    public sealed record Result(int Imported, int SkippedUnknownImage, int SkippedEmpty);

    public static Result Import(AnnotationStore store, JsonElement coco)
    {
        if (coco.ValueKind != JsonValueKind.Object || !coco.TryGetProperty("annotations", out var annotations) || annotations.ValueKind != JsonValueKind.Array)
            throw new FormatException("Not a COCO instances file: no 'annotations' array.");
        var projectImages = store.Images().ToDictionary(i => i.FileName);
        var images = new Dictionary<long, ImageRecord>();
        if (coco.TryGetProperty("images", out var imgs) && imgs.ValueKind == JsonValueKind.Array)
            foreach (var i in imgs.EnumerateArray())
                if (projectImages.TryGetValue(i.GetProperty("file_name").GetString() ?? "", out var rec)) images[i.GetProperty("id").GetInt64()] = rec;
        var categories = new Dictionary<long, string>();
        if (coco.TryGetProperty("categories", out var cats) && cats.ValueKind == JsonValueKind.Array)
            foreach (var c in cats.EnumerateArray()) categories[c.GetProperty("id").GetInt64()] = c.GetProperty("name").GetString() ?? "";
        int imported = 0, unknown = 0, empty = 0;
        foreach (var a in annotations.EnumerateArray())
        {
            if (!images.TryGetValue(a.GetProperty("image_id").GetInt64(), out var image)) { unknown++; continue; }
            long catId = a.GetProperty("category_id").GetInt64();
            string category = categories.TryGetValue(catId, out string? n) && n.Length > 0 ? n : $"category {catId}";
            var rle = Segmentation(a.GetProperty("segmentation"), image.Height, image.Width);
            if (rle.Area == 0) { empty++; continue; }
            double? score = a.TryGetProperty("score", out var s) && s.ValueKind == JsonValueKind.Number ? s.GetDouble() : null;
            store.Add(new NewAnnotation(image.Id, category, rle, score, null, null, "import"));
            imported++;
        }
        return new Result(imported, unknown, empty);
    }

    private static CocoRle Segmentation(JsonElement seg, int h, int w)
    {
        if (seg.ValueKind == JsonValueKind.Object)
        {
            var size = seg.GetProperty("size").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            if (size.Length != 2 || size[0] != h || size[1] != w) throw new FormatException($"An RLE of size [{string.Join(", ", size)}] does not fit a {w}x{h} image.");
            var counts = seg.GetProperty("counts");
            var rle = new CocoRle(h, w, counts.ValueKind == JsonValueKind.String
                ? MaskRle.CountsFromString(counts.GetString()!)
                : counts.EnumerateArray().Select(e => e.GetInt32()).ToArray());
            MaskRle.Decode(rle);
            return rle;
        }
        if (seg.ValueKind != JsonValueKind.Array) throw new FormatException("A segmentation must be an RLE object or a list of polygons.");
        var mask = new bool[h * w];
        foreach (var poly in seg.EnumerateArray())
        {
            var v = poly.EnumerateArray().Select(e => e.GetDouble()).ToArray();
            if (v.Length < 6 || v.Length % 2 != 0 || v.Any(x => !double.IsFinite(x))) throw new FormatException("A polygon needs at least 3 finite points.");
            Fill(mask, h, w, v);
        }
        return MaskRle.ToCocoRle(mask, h, w);
    }

    /// <summary>Sets the pixels whose centres lie inside the polygon (even-odd), OR-ed into the mask.</summary>
    private static void Fill(bool[] mask, int h, int w, double[] v)
    {
        int n = v.Length / 2;
        var xs = new List<double>();
        for (int y = 0; y < h; y++)
        {
            double cy = y + 0.5;
            xs.Clear();
            for (int i = 0; i < n; i++)
            {
                double x0 = v[2 * i], y0 = v[2 * i + 1], x1 = v[2 * ((i + 1) % n)], y1 = v[2 * ((i + 1) % n) + 1];
                if ((y0 <= cy) != (y1 <= cy)) xs.Add(x0 + (cy - y0) * (x1 - x0) / (y1 - y0));
            }
            xs.Sort();
            for (int k = 0; k + 1 < xs.Count; k += 2)
            {
                int from = Math.Max(0, (int)Math.Ceiling(xs[k] - 0.5)), to = Math.Min(w - 1, (int)Math.Ceiling(xs[k + 1] - 0.5) - 1);
                for (int x = from; x <= to; x++) mask[y * w + x] = true;
            }
        }
    }
}
