using System.Text.Json;
using SegmentAnything.Imaging;

namespace SegmentAnything.AutomaticMasks;

/// <summary>
/// Writes generated masks in the SA-1B layout: <c>{"image": {...}, "annotations": [records]}</c>, each
/// record with the official generator's keys. The segmentation follows the output mode: a binary mask
/// (rows of 0/1), an uncompressed RLE (<c>counts</c> as numbers) or a COCO RLE (<c>counts</c> as
/// pycocotools' string). With a polygon tolerance, each record also gets <c>polygons</c> (COCO polygon
/// segmentation: the outer rings, <c>[x0, y0, x1, y1, …]</c> in pixel-corner coordinates) and
/// <c>polygon_holes</c> (the hole rings, which COCO's union of polygons cannot express), from
/// <see cref="MaskPolygons.FromMask"/>.
/// </summary>
public static class Sa1bJson
{
    public static void Write(Stream stream, IReadOnlyList<MaskRecord> records, AmgOutputMode mode, string? fileName, int width, int height,
        double? polygonTolerance = null)
    {
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = false });
        w.WriteStartObject();
        w.WriteStartObject("image");
        if (fileName is not null) w.WriteString("file_name", fileName);
        w.WriteNumber("width", width);
        w.WriteNumber("height", height);
        w.WriteEndObject();
        w.WriteStartArray("annotations");
        foreach (var r in records) WriteRecord(w, r, mode, polygonTolerance);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    public static void WriteRecord(Utf8JsonWriter w, MaskRecord r, AmgOutputMode mode, double? polygonTolerance = null)
    {
        w.WriteStartObject();
        w.WritePropertyName("segmentation");
        var rle = r.Segmentation;
        if (mode == AmgOutputMode.BinaryMask)
        {
            bool[] mask = r.DecodeMask();
            w.WriteStartArray();
            for (int y = 0; y < rle.Height; y++)
            {
                w.WriteStartArray();
                for (int x = 0; x < rle.Width; x++) w.WriteNumberValue(mask[y * rle.Width + x] ? 1 : 0);
                w.WriteEndArray();
            }
            w.WriteEndArray();
        }
        else
        {
            w.WriteStartObject();
            w.WriteStartArray("size");
            w.WriteNumberValue(rle.Height);
            w.WriteNumberValue(rle.Width);
            w.WriteEndArray();
            if (mode == AmgOutputMode.CocoRle) w.WriteString("counts", MaskRle.CountsToString(rle.Counts));
            else
            {
                w.WriteStartArray("counts");
                foreach (int c in rle.Counts) w.WriteNumberValue(c);
                w.WriteEndArray();
            }
            w.WriteEndObject();
        }
        w.WriteNumber("area", r.Area);
        WriteNumbers(w, "bbox", r.BBox.Select(v => (double)v));
        WriteFloat(w, "predicted_iou", r.PredictedIou);
        w.WriteStartArray("point_coords");
        WriteNumbers(w, null, r.PointCoords);
        w.WriteEndArray();
        WriteFloat(w, "stability_score", r.StabilityScore);
        WriteNumbers(w, "crop_box", r.CropBox.Select(v => (double)v));
        if (polygonTolerance is double tol)
        {
            var rings = MaskPolygons.FromMask(r.DecodeMask(), rle.Height, rle.Width, tol);
            WriteRings(w, "polygons", rings.Where(p => !p.IsHole));
            WriteRings(w, "polygon_holes", rings.Where(p => p.IsHole));
        }
        w.WriteEndObject();
    }

    /// <summary>Non-finite scores (a stability of 0/0) have no JSON number: written as null.</summary>
    private static void WriteFloat(Utf8JsonWriter w, string name, float v)
    {
        if (float.IsFinite(v)) w.WriteNumber(name, (double)v);
        else w.WriteNull(name);
    }

    private static void WriteRings(Utf8JsonWriter w, string name, IEnumerable<MaskPolygon> rings)
    {
        w.WriteStartArray(name);
        foreach (var ring in rings) WriteNumbers(w, null, ring.Points);
        w.WriteEndArray();
    }

    private static void WriteNumbers(Utf8JsonWriter w, string? name, IEnumerable<double> values)
    {
        if (name is null) w.WriteStartArray(); else w.WriteStartArray(name);
        foreach (double v in values) w.WriteNumberValue(v);
        w.WriteEndArray();
    }
}
