using System.Text.Json;

namespace SegmentAnything.Server.Api;

/// <summary>A reference to one mask of an earlier decode.</summary>
public sealed record MaskRef(string? DecodeId, int Index);

public sealed record DecodeRequest(float[][]? Points, int[]? Labels, float[]? Box, MaskRef? MaskInput, bool Multimask = true);

/// <summary>COCO RLE as JSON: counts either pycocotools' compact string or the plain run lengths.</summary>
public sealed record RleDto(int[] Size, JsonElement Counts);

public sealed record AcceptRequest(string? Category, string? DecodeId, int Index, RleDto? Segmentation, double? PredictedIou, JsonElement? Prompts);

/// <summary>
/// Options of a "segment everything" run, the official <c>SamAutomaticMaskGenerator</c> arguments in
/// camelCase; any left out keep the official defaults.
/// </summary>
public sealed record EverythingRequest(
    int? PointsPerSide, int? PointsPerBatch, float? PredIouThresh, float? StabilityScoreThresh, float? StabilityScoreOffset,
    float? BoxNmsThresh, int? CropNLayers, float? CropNmsThresh, double? CropOverlapRatio, int? CropNPointsDownscaleFactor,
    int? MinMaskRegionArea);

/// <summary>Accepts proposals of one "segment everything" run: all of them, or those at <see cref="Indices"/>.</summary>
public sealed record AcceptProposalsRequest(string? Category, int[]? Indices);

/// <summary>A change to an accepted annotation.</summary>
public sealed record PatchAnnotationRequest(string? Category);
