using SegmentAnything.Checkpoints;
using SegmentAnything.Modeling;

namespace SegmentAnything;

/// <summary>The model families this library implements.</summary>
public enum ModelFamily
{
    SamViT,
    MobileSam,
    EfficientSam,
}

/// <summary>
/// A loaded SAM-family model. <see cref="Load(string)"/> recognises the architecture from the
/// checkpoint's tensor names and shapes and binds every tensor by its official name.
/// </summary>
public sealed class SamModel
{
    public ModelFamily Family { get; }

    /// <summary>A name that identifies the architecture exactly (e.g. <c>vit_b</c>, <c>mobile_sam</c>, or a spelled-out custom configuration).</summary>
    public string Architecture { get; }

    public IImageEncoder ImageEncoder { get; }
    public Sam? Sam { get; }

    /// <summary>The EfficientSAM model, when <see cref="Family"/> is <see cref="ModelFamily.EfficientSam"/>.</summary>
    public EfficientSam? EfficientSam { get; }
    public long ParameterCount { get; }
    public IReadOnlyDictionary<DType, long> StorageDTypes { get; }
    public string Source { get; }

    private SamModel(ModelFamily family, string architecture, IImageEncoder encoder, Sam? sam, EfficientSam? efficientSam, StateDict dict)
    {
        (Family, Architecture, ImageEncoder, Sam, EfficientSam, Source) = (family, architecture, encoder, sam, efficientSam, dict.Source);
        ParameterCount = dict.Tensors.Values.Where(t => t.DType.IsFloating()).Sum(t => t.ElementCount);
        StorageDTypes = dict.Tensors.Values.GroupBy(t => t.DType).ToDictionary(g => g.Key, g => g.Sum(t => t.ElementCount));
    }

    /// <summary>Loads a checkpoint one weight at a time (each read from the file straight into its packed form).</summary>
    public static SamModel Load(string path) => FromStateDict(CheckpointReader.Open(path));

    public static SamModel FromStateDict(StateDict dict)
    {
        if (dict.Contains("prompt_encoder.invalid_points.weight") || dict.Contains("prompt_encoder.bbox_top_left_embeddings.weight"))
        {
            var efficient = EfficientSam.Load(dict);
            string arch = efficient.Variant switch { "vit_t" => "efficient_sam_vitt", "vit_s" => "efficient_sam_vits", _ => $"efficient_sam({efficient.ImageEncoder.Config})" };
            return new SamModel(ModelFamily.EfficientSam, arch, efficient.ImageEncoder, null, efficient, dict);
        }
        if (dict.Contains("image_encoder.patch_embed.proj.weight") && dict.Contains("image_encoder.blocks.0.attn.qkv.weight"))
            return LoadSam(dict, ModelFamily.SamViT, w => ImageEncoderViT.Load(w));
        if (dict.Contains("image_encoder.layers.0.blocks.0.conv1.c.weight") || dict.Keys.Any(k => k.StartsWith("image_encoder.patch_embed.seq.", StringComparison.Ordinal)))
            return LoadSam(dict, ModelFamily.MobileSam, w => TinyViT.Load(w));
        throw new CheckpointException($"{dict.Source}: not a recognised SAM, MobileSAM or EfficientSAM checkpoint (no image_encoder.patch_embed / prompt_encoder tensors).");
    }

    private static SamModel LoadSam(StateDict dict, ModelFamily family, Func<WeightBinder, IImageEncoder> encoderFactory)
    {
        var w = new WeightBinder(dict);
        var encoder = encoderFactory(w);
        var prompt = PromptEncoder.Load(w, encoder.EmbeddingSize, encoder.ImageSize);
        var decoder = MaskDecoder.Load(w);
        string arch = family == ModelFamily.MobileSam ? "mobile_sam" : ArchitectureName((ImageEncoderViT)encoder, prompt);
        if (prompt.EmbedDim != decoder.Dim || prompt.EmbedDim != encoder.EmbeddingChannels)
            throw new CheckpointException($"{dict.Source}: widths disagree: image embedding {encoder.EmbeddingChannels}, prompt encoder {prompt.EmbedDim}, mask decoder {decoder.Dim}.");
        w.Complete(arch);
        return new SamModel(family, arch, encoder, new Sam(encoder, prompt, decoder), null, dict);
    }

    private static string ArchitectureName(ImageEncoderViT e, PromptEncoder p)
    {
        var c = e.Config;
        bool official = c.ImgSize == 1024 && c.PatchSize == 16 && p.EmbedDim == 256 && c.WindowSize == 14;
        if (official && c.EmbedDim == 768 && c.Depth == 12 && c.GlobalAttnIndexes.SequenceEqual([2, 5, 8, 11])) return "vit_b";
        if (official && c.EmbedDim == 1024 && c.Depth == 24 && c.GlobalAttnIndexes.SequenceEqual([5, 11, 17, 23])) return "vit_l";
        if (official && c.EmbedDim == 1280 && c.Depth == 32 && c.GlobalAttnIndexes.SequenceEqual([7, 15, 23, 31])) return "vit_h";
        return $"sam_vit(img={c.ImgSize},patch={c.PatchSize},dim={c.EmbedDim},depth={c.Depth},heads={c.NumHeads},window={c.WindowSize}," +
               $"global=[{string.Join(",", c.GlobalAttnIndexes)}],mlp={c.MlpDim},out={c.OutChans},prompt={p.EmbedDim})";
    }
}
