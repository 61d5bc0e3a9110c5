using System.Text.Json;
using System.Text.Json.Nodes;
using SegmentAnything.Imaging;

namespace SegmentAnything.Server.Annotation;

/// <summary>COCO instances JSON, SA-1B per-image JSON and PNG masks from the project database.</summary>
public static class Exporter
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static JsonObject Coco(AnnotationStore store, bool polygons, double tolerance)
    {
        if (!(tolerance >= 0) || tolerance > 1000) throw new ArgumentException("The polygon tolerance must be between 0 and 1000 pixels.");
        var images = new JsonArray();
        foreach (var i in store.Images())
            images.Add(new JsonObject { ["id"] = i.Id, ["file_name"] = i.FileName, ["width"] = i.Width, ["height"] = i.Height });
        var annotations = new JsonArray();
        foreach (var a in store.AllAnnotations())
        {
            JsonNode segmentation;
            if (polygons)
            {
                var rings = MaskPolygons.Trace(MaskRle.Decode(a.Rle), a.Rle.Height, a.Rle.Width, tolerance);
                segmentation = new JsonArray(rings.Select(r => (JsonNode)new JsonArray(r.Select(v => (JsonNode)JsonValue.Create(v)).ToArray())).ToArray());
            }
            else
            {
                segmentation = RleJson(a.Rle);
            }
            annotations.Add(new JsonObject
            {
                ["id"] = a.Id,
                ["image_id"] = a.ImageId,
                ["category_id"] = a.CategoryId,
                ["segmentation"] = segmentation,
                ["area"] = a.Area,
                ["bbox"] = new JsonArray(a.Bbox.Select(v => (JsonNode)JsonValue.Create(v)).ToArray()),
                ["iscrowd"] = 0,
                ["score"] = a.PredictedIou,
            });
        }
        var categories = new JsonArray();
        foreach (var c in store.Categories())
            categories.Add(new JsonObject { ["id"] = c.Id, ["name"] = c.Name, ["supercategory"] = c.Supercategory });
        return new JsonObject
        {
            ["info"] = new JsonObject { ["description"] = "SegmentAnything.NET annotations", ["date_created"] = DateTimeOffset.UtcNow.ToString("O") },
            ["licenses"] = new JsonArray(),
            ["images"] = images,
            ["annotations"] = annotations,
            ["categories"] = categories,
        };
    }

    /// <summary>SA-1B's layout: one JSON per image with its RLE masks and the points that prompted them.</summary>
    public static JsonObject Sa1bImage(ImageRecord image, IEnumerable<AnnotationRecord> annotations)
    {
        var list = new JsonArray();
        foreach (var a in annotations)
        {
            list.Add(new JsonObject
            {
                ["id"] = a.Id,
                ["segmentation"] = RleJson(a.Rle),
                ["bbox"] = new JsonArray(a.Bbox.Select(v => (JsonNode)JsonValue.Create(v)).ToArray()),
                ["area"] = a.Area,
                ["predicted_iou"] = a.PredictedIou,
                ["point_coords"] = PointCoords(a.PromptsJson),
                ["crop_box"] = new JsonArray(0, 0, image.Width, image.Height),
                ["category"] = a.Category,
            });
        }
        return new JsonObject
        {
            ["image"] = new JsonObject { ["image_id"] = image.Id, ["width"] = image.Width, ["height"] = image.Height, ["file_name"] = image.FileName },
            ["annotations"] = list,
        };
    }

    public static JsonObject RleJson(CocoRle rle) => new()
    {
        ["size"] = new JsonArray(rle.Height, rle.Width),
        ["counts"] = MaskRle.CountsToString(rle.Counts),
    };

    private static JsonArray PointCoords(string? promptsJson)
    {
        var result = new JsonArray();
        if (promptsJson is null) return result;
        try
        {
            if (JsonNode.Parse(promptsJson)?["points"] is JsonArray pts)
                foreach (var p in pts) result.Add(p?.DeepClone());
        }
        catch (JsonException) { }
        return result;
    }

    /// <summary>Writes an export: a .json file for COCO, a folder of files for SA-1B and PNG. Returns what was written.</summary>
    public static IReadOnlyList<string> Write(AnnotationStore store, ExportOptions options, string output)
    {
        var written = new List<string>();
        switch (options.Format)
        {
            case ExportFormat.Coco:
                if (Path.GetDirectoryName(Path.GetFullPath(output)) is string dir) Directory.CreateDirectory(dir);
                File.WriteAllText(output, Coco(store, options.Polygons, options.Tolerance).ToJsonString(Indented));
                written.Add(output);
                break;
            case ExportFormat.Sa1b:
                Directory.CreateDirectory(output);
                var all = store.AllAnnotations().ToLookup(a => a.ImageId);
                foreach (var image in store.Images())
                {
                    string file = Path.Combine(output, SafeStem(image) + ".json");
                    File.WriteAllText(file, Sa1bImage(image, all[image.Id]).ToJsonString(Indented));
                    written.Add(file);
                }
                break;
            case ExportFormat.Png:
                Directory.CreateDirectory(output);
                var byImage = store.Images().ToDictionary(i => i.Id);
                foreach (var a in store.AllAnnotations())
                {
                    string file = Path.Combine(output, $"{SafeStem(byImage[a.ImageId])}_{a.Id}.png");
                    ImageIO.SaveMaskPng(MaskRle.Decode(a.Rle), a.Rle.Width, a.Rle.Height, file);
                    written.Add(file);
                }
                break;
        }
        return written;
    }

    /// <summary>A flat file name for an image kept in a subfolder (a/b.png → a_b).</summary>
    private static string SafeStem(ImageRecord image)
    {
        string stem = Path.ChangeExtension(image.FileName, null) ?? $"image{image.Id}";
        return string.Concat(stem.Select(ch => char.IsLetterOrDigit(ch) || ch is '-' or '.' ? ch : '_'));
    }
}
