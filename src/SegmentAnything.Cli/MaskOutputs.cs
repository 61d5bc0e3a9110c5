using System.Text.Json;
using SegmentAnything.Imaging;

namespace SegmentAnything.Cli;

/// <summary>Writes a prediction as mask PNGs, an overlay PNG and <c>masks.json</c>.</summary>
public static class MaskOutputs
{
    public static void Write(string dir, RgbImage image, string imagePath, string architecture, MaskResult result, Prompt? prompt = null)
    {
        var masks = new List<bool[]>();
        var records = new List<object>();
        for (int i = 0; i < result.Count; i++)
        {
            var mask = result.Mask(i);
            masks.Add(mask);
            ImageIO.SaveMaskPng(mask, result.Width, result.Height, Path.Combine(dir, $"mask_{i}.png"));
            var rle = MaskRle.ToCocoRle(mask, result.Height, result.Width);
            records.Add(new
            {
                index = i,
                score = result.Scores[i],
                area = MaskStats.Area(mask),
                bbox = BoxArray(MaskStats.BoundingBox(mask, result.Height, result.Width)),
                segmentation = new { size = new[] { result.Height, result.Width }, counts = MaskRle.CountsToString(rle.Counts) },
            });
        }
        var points = new List<OverlayPoint>();
        for (int i = 0; i < (prompt?.PointCount ?? 0); i++) points.Add(new OverlayPoint(prompt!.Points![2 * i], prompt.Points[2 * i + 1], prompt.Labels![i] != 0));
        OverlayBox[] boxes = prompt?.Box is { } b ? [new OverlayBox(b[0], b[1], b[2], b[3])] : [];
        ImageIO.SavePng(Overlay.Draw(image, masks, points, boxes), Path.Combine(dir, "overlay.png"));
        var doc = new { image = imagePath, width = result.Width, height = result.Height, architecture, masks = records };
        string json = JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        string tmp = Path.Combine(dir, "masks.json.tmp");
        File.WriteAllText(tmp, json);
        File.Move(tmp, Path.Combine(dir, "masks.json"), overwrite: true);
    }

    private static int[] BoxArray((int X, int Y, int W, int H) b) => [b.X, b.Y, b.W, b.H];
}
