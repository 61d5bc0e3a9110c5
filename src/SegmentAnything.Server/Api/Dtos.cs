using System.Text.Json;

namespace SegmentAnything.Server.Api;

/// <summary>A reference to one mask of an earlier decode.</summary>
public sealed record MaskRef(string? DecodeId, int Index);

public sealed record DecodeRequest(float[][]? Points, int[]? Labels, float[]? Box, MaskRef? MaskInput, bool Multimask = true);

/// <summary>COCO RLE as JSON: counts either pycocotools' compact string or the plain run lengths.</summary>
public sealed record RleDto(int[] Size, JsonElement Counts);

public sealed record AcceptRequest(string? Category, string? DecodeId, int Index, RleDto? Segmentation, double? PredictedIou, JsonElement? Prompts);
