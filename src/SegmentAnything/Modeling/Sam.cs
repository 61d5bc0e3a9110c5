namespace SegmentAnything.Modeling;

/// <summary>
/// The official <c>Sam</c> module for the SAM ViT and MobileSAM families: an image encoder, the prompt
/// encoder and the mask decoder, plus the official normalisation constants and mask threshold.
/// </summary>
public sealed class Sam(IImageEncoder imageEncoder, PromptEncoder promptEncoder, MaskDecoder maskDecoder)
{
    public const float MaskThreshold = 0f;

    public IImageEncoder ImageEncoder { get; } = imageEncoder;
    public PromptEncoder PromptEncoder { get; } = promptEncoder;
    public MaskDecoder MaskDecoder { get; } = maskDecoder;
}
