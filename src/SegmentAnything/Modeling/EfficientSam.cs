using SegmentAnything.Checkpoints;
using SegmentAnything.Imaging;
using SegmentAnything.Kernels;
using SegmentAnything.Tensors;

namespace SegmentAnything.Modeling;

/// <summary>
/// EfficientSAM (efficient_sam.py): a plain-ViT image encoder plus a point/box prompt decoder that
/// answers several queries per call, each with up to <see cref="MaxInputPoints"/> points, and always
/// returns <see cref="MasksPerQuery"/> masks with their predicted IoU.
/// </summary>
public sealed class EfficientSam
{
    /// <summary>The official <c>decoder_max_num_input_points</c>; further points are dropped, fewer are padded.</summary>
    public const int DefaultMaxInputPoints = 6;
    /// <summary>The official encoder input side (not stored in checkpoints).</summary>
    public const int DefaultImageSize = 1024;
    /// <summary>The official decoder's attention heads (not inferable from weight shapes).</summary>
    public const int DefaultDecoderHeads = 8;
    /// <summary>The official encoders' head width: ViT-T has 192/64 = 3 heads, ViT-S 384/64 = 6.</summary>
    public const int DefaultEncoderHeadDim = 64;

    private readonly Lazy<float[]> _densePeTokens;

    public EfficientSamImageEncoder ImageEncoder { get; }
    public EfficientSamPromptEncoder PromptEncoder { get; }
    public EfficientSamMaskDecoder MaskDecoder { get; }
    public int MaxInputPoints { get; }
    /// <summary>"vit_t", "vit_s", or "custom" for other widths/depths.</summary>
    public string Variant { get; }
    public int MasksPerQuery => MaskDecoder.NumMultimaskOutputs;

    private EfficientSam(EfficientSamImageEncoder imageEncoder, EfficientSamPromptEncoder promptEncoder,
        EfficientSamMaskDecoder maskDecoder, int maxInputPoints, string variant)
    {
        ImageEncoder = imageEncoder;
        PromptEncoder = promptEncoder;
        MaskDecoder = maskDecoder;
        MaxInputPoints = maxInputPoints;
        Variant = variant;
        _densePeTokens = new Lazy<float[]>(() => EfficientSamOps.Transpose(PromptEncoder.DensePositionalEncoding(),
            PromptEncoder.EmbedDim, PromptEncoder.ImageEmbeddingSize * PromptEncoder.ImageEmbeddingSize));
    }

    public static EfficientSam Load(string checkpointPath) => Load(CheckpointReader.Open(checkpointPath));

    /// <summary>Builds the model that fits <paramref name="dict"/> and binds every tensor, rejecting leftovers.</summary>
    public static EfficientSam Load(StateDict dict) => Load(new WeightBinder(dict), complete: true);

    /// <summary>
    /// Builds the model that fits the binder's state dict. With <paramref name="complete"/> the binder
    /// then throws one error listing every missing, mis-shaped or unexpected key.
    /// </summary>
    public static EfficientSam Load(WeightBinder binder, bool complete = true, int? encoderHeads = null, int decoderHeads = DefaultDecoderHeads)
    {
        var dict = binder.Dict;
        var encoderConfig = InferEncoderConfig(dict, encoderHeads);
        var decoderConfig = InferDecoderConfig(dict, decoderHeads);
        if (decoderConfig.TransformerDim != encoderConfig.NeckDim)
            throw new CheckpointException($"{dict.Source}: encoder neck width {encoderConfig.NeckDim} differs from the decoder width {decoderConfig.TransformerDim}.");

        string variant = (encoderConfig.EmbedDim, encoderConfig.Depth) switch
        {
            (192, 12) => "vit_t",
            (384, 12) => "vit_s",
            _ => "custom",
        };
        var encoder = new EfficientSamImageEncoder(binder, "image_encoder", encoderConfig);
        var prompt = new EfficientSamPromptEncoder(binder, "prompt_encoder", decoderConfig.TransformerDim, encoderConfig.GridSize, encoderConfig.ImageSize);
        var decoder = new EfficientSamMaskDecoder(binder, "mask_decoder", decoderConfig);
        // pixel_mean / pixel_std are non-persistent buffers, but tolerate checkpoints that saved them.
        binder.Ignore("pixel_mean");
        binder.Ignore("pixel_std");
        if (complete)
            binder.Complete($"EfficientSAM {variant} (embed {encoderConfig.EmbedDim}, depth {encoderConfig.Depth}, {encoderConfig.NumHeads} heads)");
        return new EfficientSam(encoder, prompt, decoder, DefaultMaxInputPoints, variant);
    }

    /// <summary>Runs the image encoder on a normalised [3, 1024, 1024] image; returns [256, 64, 64].</summary>
    public Tensor EncodeImage(Tensor normalisedImage, ActivationRecorder? recorder = null) => ImageEncoder.Forward(normalisedImage, recorder);

    /// <summary>
    /// Decodes prompts against an image embedding (<c>predict_masks</c> with multimask output, before
    /// the final upsampling).
    /// </summary>
    /// <param name="embedding">The encoder output [256, 64, 64] (or [1, 256, 64, 64]).</param>
    /// <param name="points">[queries, n, 2] as (x, y) in original-image pixels; negative coordinates mark padding.</param>
    /// <param name="labels">[queries, n]: 1 foreground, 0 background, 2 / 3 box top-left / bottom-right, −1 padding.</param>
    /// <param name="originalSize">The original image size the points refer to.</param>
    public EfficientSamPrediction Predict(Tensor embedding, float[,,] points, int[,] labels, (int Height, int Width) originalSize) =>
        Predict(embedding, null, points, labels, originalSize);

    /// <summary>
    /// The prompt-independent decoder work for one image embedding: its token layout and the first two-way
    /// block's image-side projections. Predicting from it gives exactly the results of predicting from the embedding.
    /// </summary>
    public EfficientSamImageContext PrepareImage(Tensor embedding)
    {
        ArgumentNullException.ThrowIfNull(embedding);
        int c = PromptEncoder.EmbedDim, s = PromptEncoder.ImageEmbeddingSize;
        CheckEmbedding(embedding, c, s);
        float[] imageTokens = EfficientSamOps.Transpose(embedding.Data, c, s * s);
        return new EfficientSamImageContext(this, embedding, imageTokens, MaskDecoder.PrepareImage(imageTokens, _densePeTokens.Value, s));
    }

    /// <summary><see cref="Predict(Tensor, float[,,], int[,], ValueTuple{int, int})"/> against a prepared image.</summary>
    public EfficientSamPrediction Predict(EfficientSamImageContext image, float[,,] points, int[,] labels, (int Height, int Width) originalSize)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (!ReferenceEquals(image.Model, this)) throw new ArgumentException("The image context was prepared by another model.", nameof(image));
        return Predict(image.Embedding, image, points, labels, originalSize);
    }

    private void CheckEmbedding(Tensor embedding, int c, int s)
    {
        bool shapeOk = embedding.Rank switch
        {
            3 => embedding.Shape[0] == c && embedding.Shape[1] == s && embedding.Shape[2] == s,
            4 => embedding.Shape[0] == 1 && embedding.Shape[1] == c && embedding.Shape[2] == s && embedding.Shape[3] == s,
            _ => false,
        };
        if (!shapeOk) throw new ArgumentException($"Expected an image embedding [{c}, {s}, {s}], got {embedding}.", nameof(embedding));
    }

    private EfficientSamPrediction Predict(Tensor embedding, EfficientSamImageContext? image, float[,,] points, int[,] labels, (int Height, int Width) originalSize)
    {
        ArgumentNullException.ThrowIfNull(embedding);
        ArgumentNullException.ThrowIfNull(points);
        ArgumentNullException.ThrowIfNull(labels);
        int queries = points.GetLength(0), n = points.GetLength(1);
        if (points.GetLength(2) != 2) throw new ArgumentException("Points must be [queries, n, 2] (x, y).", nameof(points));
        if (labels.GetLength(0) != queries || labels.GetLength(1) != n)
            throw new ArgumentException($"Labels [{labels.GetLength(0)}, {labels.GetLength(1)}] do not match points [{queries}, {n}, 2].", nameof(labels));
        if (queries == 0) throw new ArgumentException("At least one query is needed.", nameof(points));
        if (originalSize.Height <= 0 || originalSize.Width <= 0)
            throw new ArgumentOutOfRangeException(nameof(originalSize), "The original image size must be positive.");

        int c = PromptEncoder.EmbedDim, s = PromptEncoder.ImageEmbeddingSize;
        CheckEmbedding(embedding, c, s);
        // Preparing costs what the first query would spend on the same work, so a lone call loses nothing.
        image ??= PrepareImage(embedding);

        int k = MaxInputPoints;
        var (rescaled, kept) = RescalePoints(points, labels, originalSize);
        float[] imageTokens = image.ImageTokens;
        float[] peTokens = _densePeTokens.Value;

        int m = MasksPerQuery;
        int first = MaskDecoder.NumMaskTokens > 1 ? 1 : 0;
        float[]? logits = null;
        var iou = new float[queries * m];
        int maskSize = 0;
        var gate = new object();
        // Queries are independent and each one's products are too small to keep two threads busy, so several
        // queries run side by side, each on one thread (every kernel splits work the same way on one thread
        // as on several, so a query's outputs do not depend on how many are decoded together).
        KernelParallel.ForEachSerial(queries, q =>
        {
            float[] sparse = PromptEncoder.Embed(rescaled.AsSpan(q * k * 2, k * 2), kept.AsSpan(q * k, k), k);
            var (masks, side, quality) = MaskDecoder.PredictMasks(imageTokens, peTokens, image.FirstBlock, s, sparse, k);
            int plane = side * side;
            lock (gate)
            {
                maskSize = side;
                logits ??= new float[queries * m * plane];
            }
            masks.AsSpan(first * plane, m * plane).CopyTo(logits.AsSpan(q * m * plane));
            quality.AsSpan(first, m).CopyTo(iou.AsSpan(q * m));
        });
        return new EfficientSamPrediction(new Tensor(iou, queries, m), new Tensor(logits!, queries, m, maskSize, maskSize), originalSize);
    }

    /// <summary>
    /// <c>get_rescaled_pts</c> then truncation or padding to <see cref="MaxInputPoints"/>: coordinates
    /// scale to the encoder frame per axis, negative ones become −1, and padding gets label −1.
    /// </summary>
    private (float[] Points, int[] Labels) RescalePoints(float[,,] points, int[,] labels, (int Height, int Width) size)
    {
        int queries = points.GetLength(0), n = points.GetLength(1), k = MaxInputPoints;
        float imageSize = ImageEncoder.ImageSize;
        var rescaled = new float[queries * k * 2];
        var kept = new int[queries * k];
        Array.Fill(rescaled, -1f);
        Array.Fill(kept, EfficientSamLabel.Padding);
        for (int q = 0; q < queries; q++)
            for (int i = 0; i < n; i++)
            {
                float x = points[q, i, 0], y = points[q, i, 1];
                if (!float.IsFinite(x) || !float.IsFinite(y)) throw new ArgumentException($"Point [{q}, {i}] is not finite.", nameof(points));
                int label = labels[q, i];
                if (!EfficientSamLabel.IsValid(label))
                    throw new ArgumentException($"Invalid EfficientSAM label {label} at [{q}, {i}] (expected -1, 0, 1, 2 or 3).", nameof(labels));
                if (i >= k) continue;
                rescaled[(q * k + i) * 2] = x >= 0 ? x * imageSize / size.Width : -1f;
                rescaled[(q * k + i) * 2 + 1] = y >= 0 ? y * imageSize / size.Height : -1f;
                kept[q * k + i] = label;
            }
        return (rescaled, kept);
    }

    /// <summary>Infers the encoder shape: width and patch from the patch embedding, depth from the block count.</summary>
    public static EfficientSamImageEncoderConfig InferEncoderConfig(StateDict dict, int? numHeads = null)
    {
        var patch = Require(dict, "image_encoder.patch_embed.proj.weight", 4);
        int d = patch.Shape[0], p = patch.Shape[2];
        if (patch.Shape[1] != 3 || patch.Shape[3] != p || p <= 0)
            throw new CheckpointException($"{dict.Source}: unexpected patch embedding shape [{string.Join(", ", patch.Shape)}].");
        var pos = Require(dict, "image_encoder.pos_embed", 3);
        int positions = pos.Shape[1] - 1;
        int pre = (int)Math.Round(Math.Sqrt(positions));
        if (pre * pre != positions || pos.Shape[2] != d)
            throw new CheckpointException($"{dict.Source}: position embedding [{string.Join(", ", pos.Shape)}] is not a class token plus a square grid of width {d}.");
        int depth = 0;
        while (dict.Contains($"image_encoder.blocks.{depth}.norm1.weight")) depth++;
        if (depth == 0) throw new CheckpointException($"{dict.Source}: no image_encoder.blocks found.");
        int hidden = Require(dict, "image_encoder.blocks.0.mlp.fc1.weight", 2).Shape[0];
        int neck = Require(dict, "image_encoder.neck.0.weight", 4).Shape[0];
        int heads = numHeads ?? Math.Max(1, d / DefaultEncoderHeadDim);
        if (heads <= 0 || d % heads != 0) throw new CheckpointException($"{dict.Source}: {heads} heads do not divide the encoder width {d}.");
        if (DefaultImageSize % p != 0) throw new CheckpointException($"{dict.Source}: patch size {p} does not divide {DefaultImageSize}.");
        return new EfficientSamImageEncoderConfig(DefaultImageSize, p, d, depth, heads, hidden, neck, pre);
    }

    /// <summary>Infers the decoder shape from token, transformer, upscaling and head weights.</summary>
    public static EfficientSamMaskDecoderConfig InferDecoderConfig(StateDict dict, int numHeads = DefaultDecoderHeads)
    {
        int c = Require(dict, "mask_decoder.iou_token.weight", 2).Shape[1];
        int maskTokens = Require(dict, "mask_decoder.mask_tokens.weight", 2).Shape[0];
        int depth = 0;
        while (dict.Contains($"mask_decoder.transformer.layers.{depth}.norm1.weight")) depth++;
        if (depth == 0) throw new CheckpointException($"{dict.Source}: no mask_decoder.transformer.layers found.");
        int mlp = Require(dict, "mask_decoder.transformer.layers.0.mlp.layers.0.0.weight", 2).Shape[0];
        int cross = Require(dict, "mask_decoder.transformer.final_attn_token_to_image.q_proj.weight", 2).Shape[0];
        var ups = new List<int>();
        while (dict.Get($"mask_decoder.final_output_upscaling_layers.{ups.Count}.0.weight") is { } w)
        {
            if (w.Shape.Length != 4) throw new CheckpointException($"{dict.Source}: upscaling weight {ups.Count} is not 4-D.");
            ups.Add(w.Shape[1]);
        }
        int iouLayers = EfficientSamMlp.CountLayers(dict, "mask_decoder.iou_prediction_head");
        if (iouLayers == 0) throw new CheckpointException($"{dict.Source}: no mask_decoder.iou_prediction_head layers found.");
        int iouHidden = Require(dict, "mask_decoder.iou_prediction_head.layers.0.0.weight", 2).Shape[0];
        if (c % numHeads != 0 || cross % numHeads != 0)
            throw new CheckpointException($"{dict.Source}: {numHeads} decoder heads do not divide widths {c} / {cross}.");
        return new EfficientSamMaskDecoderConfig(c, depth, numHeads, mlp, cross, maskTokens, ups.ToArray(), iouLayers, iouHidden);
    }

    private static CheckpointTensor Require(StateDict dict, string name, int rank)
    {
        var t = dict.Get(name) ?? throw new CheckpointException($"{dict.Source}: not an EfficientSAM checkpoint (no '{name}').");
        if (t.Shape.Length != rank) throw new CheckpointException($"{dict.Source}: '{name}' has rank {t.Shape.Length}, expected {rank}.");
        return t;
    }
}

/// <summary>
/// The decoder's answer for every query: predicted IoU [queries, masks] and low-resolution mask
/// logits [queries, masks, 256, 256], plus the original size for the final upsampling.
/// </summary>
public sealed class EfficientSamPrediction
{
    /// <summary>The official <c>mask_threshold</c>: a pixel is in the mask when its logit is at least this.</summary>
    public const float MaskThreshold = 0f;

    public Tensor Iou { get; }
    public Tensor LowResLogits { get; }
    public (int Height, int Width) OriginalSize { get; }
    public int Queries => Iou.Shape[0];
    public int MasksPerQuery => Iou.Shape[1];

    public EfficientSamPrediction(Tensor iou, Tensor lowResLogits, (int Height, int Width) originalSize)
    {
        Iou = iou;
        LowResLogits = lowResLogits;
        OriginalSize = originalSize;
    }

    /// <summary>The logits upsampled bicubically to the original size, [queries, masks, H, W].</summary>
    public Tensor UpscaledLogits()
    {
        int planes = Queries * MasksPerQuery, low = LowResLogits.Shape[2];
        var (h, w) = OriginalSize;
        float[] up = TorchResize.Bicubic(LowResLogits.Data, planes, low, low, h, w);
        return new Tensor(up, Queries, MasksPerQuery, h, w);
    }

    /// <summary>The final binary masks at the original size, row-major [queries, masks, H, W] (logit ≥ 0).</summary>
    public bool[] Masks()
    {
        float[] up = UpscaledLogits().Data;
        var masks = new bool[up.Length];
        for (int i = 0; i < up.Length; i++) masks[i] = up[i] >= MaskThreshold;
        return masks;
    }
}

/// <summary>One image's prompt-independent EfficientSAM decoder work (<see cref="EfficientSam.PrepareImage"/>).</summary>
public sealed class EfficientSamImageContext
{
    internal EfficientSamImageContext(EfficientSam model, Tensor embedding, float[] imageTokens, EfficientSamFirstBlockImage? firstBlock)
    {
        (Model, Embedding, ImageTokens, FirstBlock) = (model, embedding, imageTokens, firstBlock);
    }

    internal EfficientSam Model { get; }
    public Tensor Embedding { get; }
    internal float[] ImageTokens { get; }
    internal EfficientSamFirstBlockImage? FirstBlock { get; }
}
