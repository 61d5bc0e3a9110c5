namespace SegmentAnything.Server.Annotation;

public enum ExportFormat { Coco, Sa1b, Png }

/// <summary>How masks are written: COCO RLE (exact) or polygons thinned to <see cref="Tolerance"/> pixels.</summary>
public sealed record ExportOptions(ExportFormat Format, bool Polygons = false, double Tolerance = AnnotationStore.DefaultPolygonTolerance)
{
    public static ExportFormat ParseFormat(string? s) => (s ?? "").Trim().ToLowerInvariant() switch
    {
        "coco" => ExportFormat.Coco,
        "sa1b" or "sa-1b" => ExportFormat.Sa1b,
        "png" => ExportFormat.Png,
        _ => throw new ArgumentException($"Unknown export format '{s}': use coco, sa1b or png."),
    };
}
