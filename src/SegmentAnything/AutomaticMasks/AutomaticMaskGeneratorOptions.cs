namespace SegmentAnything.AutomaticMasks;

/// <summary>How each record's <c>segmentation</c> is given.</summary>
public enum AmgOutputMode
{
    BinaryMask,
    UncompressedRle,
    CocoRle,
}

/// <summary>
/// The options of the official <c>SamAutomaticMaskGenerator</c>, with its defaults. Exactly one of
/// <see cref="PointsPerSide"/> and <see cref="PointGrids"/> must be set.
/// </summary>
public sealed record AutomaticMaskGeneratorOptions
{
    public int? PointsPerSide { get; init; } = 32;
    public int PointsPerBatch { get; init; } = 64;
    public float PredIouThresh { get; init; } = 0.88f;
    public float StabilityScoreThresh { get; init; } = 0.95f;
    public float StabilityScoreOffset { get; init; } = 1.0f;
    public float BoxNmsThresh { get; init; } = 0.7f;
    public int CropNLayers { get; init; }
    public float CropNmsThresh { get; init; } = 0.7f;
    public double CropOverlapRatio { get; init; } = 512.0 / 1500;
    public int CropNPointsDownscaleFactor { get; init; } = 1;

    /// <summary>Explicit normalised (x, y) grids in [0, 1], one per crop layer, interleaved.</summary>
    public IReadOnlyList<double[]>? PointGrids { get; init; }
    public int MinMaskRegionArea { get; init; }
    public AmgOutputMode OutputMode { get; init; } = AmgOutputMode.BinaryMask;

    /// <summary>Checks the options as the official constructor does, with clear messages.</summary>
    public void Validate()
    {
        if ((PointsPerSide is null) == (PointGrids is null))
            throw new ArgumentException("Exactly one of points_per_side or point_grids must be provided.");
        if (PointsPerSide is < 1 or > 1024) throw new ArgumentException($"points_per_side must be between 1 and 1024, got {PointsPerSide}.");
        if (PointsPerBatch < 1) throw new ArgumentException($"points_per_batch must be at least 1, got {PointsPerBatch}.");
        if (CropNLayers is < 0 or > 8) throw new ArgumentException($"crop_n_layers must be between 0 and 8, got {CropNLayers}.");
        if (CropNPointsDownscaleFactor < 1) throw new ArgumentException($"crop_n_points_downscale_factor must be at least 1, got {CropNPointsDownscaleFactor}.");
        if (!(CropOverlapRatio >= 0 && CropOverlapRatio < 1)) throw new ArgumentException($"crop_overlap_ratio must lie in [0, 1), got {CropOverlapRatio}.");
        if (MinMaskRegionArea < 0) throw new ArgumentException($"min_mask_region_area must not be negative, got {MinMaskRegionArea}.");
        foreach (var (name, v) in new[] { ("pred_iou_thresh", PredIouThresh), ("stability_score_thresh", StabilityScoreThresh),
                     ("stability_score_offset", StabilityScoreOffset), ("box_nms_thresh", BoxNmsThresh), ("crop_nms_thresh", CropNmsThresh) })
            if (!float.IsFinite(v)) throw new ArgumentException($"{name} must be a finite number, got {v}.");
        if (PointGrids is not null)
        {
            if (PointGrids.Count < CropNLayers + 1) throw new ArgumentException($"point_grids needs one grid per crop layer ({CropNLayers + 1}), got {PointGrids.Count}.");
            foreach (var g in PointGrids)
                if (g is null || g.Length % 2 != 0) throw new ArgumentException("Each point grid must hold (x, y) pairs.");
        }
    }
}
