using SegmentAnything.Imaging;

namespace SegmentAnything.Server.Annotation;

public sealed record ImageRecord(long Id, string FileName, int Width, int Height, string? ContentHash, int AnnotationCount);

public sealed record CategoryRecord(long Id, string Name, string Supercategory);

/// <summary>One accepted mask. <see cref="Bbox"/> is COCO's [x, y, w, h]; polygons are flat [x0, y0, x1, y1, ...] rings.</summary>
public sealed record AnnotationRecord(
    long Id, long ImageId, long CategoryId, string Category, CocoRle Rle, IReadOnlyList<double[]> Polygons,
    double[] Bbox, long Area, double? PredictedIou, string? PromptsJson, string? Model, string Source,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary>What an accept stores; the polygons, bbox and area are derived from the mask.</summary>
public sealed record NewAnnotation(long ImageId, string Category, CocoRle Rle, double? PredictedIou, string? PromptsJson, string? Model, string Source = "model");
