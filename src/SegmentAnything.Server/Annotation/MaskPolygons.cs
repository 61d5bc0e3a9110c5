using LibraryPolygons = SegmentAnything.AutomaticMasks.MaskPolygons;

namespace SegmentAnything.Server.Annotation;

/// <summary>
/// COCO polygons of a mask: the outer rings of the library's exact pixel-edge tracing, thinned with
/// Douglas-Peucker. COCO polygons cannot express holes; the RLE stored beside them is the exact mask.
/// </summary>
public static class MaskPolygons
{
    /// <summary>Flat rings [x0, y0, x1, y1, ...] in pixel-corner coordinates, each with at least 3 points.</summary>
    public static List<double[]> Trace(ReadOnlySpan<bool> mask, int height, int width, double tolerance)
    {
        var rings = LibraryPolygons.ToCoco(LibraryPolygons.FromMask(mask, height, width, tolerance));
        // Simplification can collapse a tiny region below three points; such a region keeps its exact outline.
        return rings.Count == 0 && tolerance > 0 && mask.Contains(true)
            ? LibraryPolygons.ToCoco(LibraryPolygons.FromMask(mask, height, width, 0))
            : rings;
    }
}
