using SegmentAnything.Imaging;

namespace SegmentAnything.AutomaticMasks;

/// <summary>
/// One generated mask in the SA-1B record layout: the mask as a COCO RLE over the whole image, its
/// area, box XYWH (amg's inclusive-end convention: width = x1 − x0), the model's predicted IoU, the
/// prompt point, the stability score and the crop box XYWH it was generated in.
/// </summary>
public sealed record MaskRecord(CocoRle Segmentation, long Area, int[] BBox, float PredictedIou, double[] PointCoords,
    float StabilityScore, int[] CropBox)
{
    /// <summary>The row-major [h, w] mask.</summary>
    public bool[] DecodeMask() => MaskRle.Decode(Segmentation);
}

/// <summary>Where the time of one <see cref="AutomaticMaskGenerator.Generate"/> went, in milliseconds.</summary>
public sealed record AmgTimings(double EncoderMs, double DecoderMs, double PostprocessMs, int Prompts, int Candidates, int Masks)
{
    public double TotalMs => EncoderMs + DecoderMs + PostprocessMs;
}
