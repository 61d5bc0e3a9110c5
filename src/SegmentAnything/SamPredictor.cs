using SegmentAnything.Imaging;
using SegmentAnything.Modeling;
using SegmentAnything.Tensors;

namespace SegmentAnything;

/// <summary>
/// The official <c>SamPredictor</c>: <see cref="SetImage"/> runs the image encoder once, then every
/// <see cref="Predict"/> answers a prompt from the cached embedding in milliseconds. One API for
/// SAM ViT, MobileSAM and EfficientSAM.
/// </summary>
public sealed class SamPredictor
{
    private readonly SamModel _model;
    private readonly ResizeLongestSide _transform;
    private ImageEmbedding? _embedding;

    public SamPredictor(SamModel model)
    {
        _model = model;
        _transform = new ResizeLongestSide(model.ImageEncoder.ImageSize);
    }

    public SamModel Model => _model;

    public bool IsImageSet => _embedding is not null;

    public ImageEmbedding Embedding => _embedding ?? throw new InvalidOperationException("An image must be set with SetImage (or SetEmbedding) before mask prediction.");

    /// <summary>Encodes <paramref name="image"/> (RGB) and caches its embedding.</summary>
    public void SetImage(RgbImage image, ActivationRecorder? recorder = null)
    {
        var original = (image.Height, image.Width);
        if (_model.Family == ModelFamily.EfficientSam)
            throw new NotSupportedException("EfficientSAM is not wired in yet.");
        SetResizedImage(_transform.ApplyImage(image), original, recorder);
    }

    /// <summary>
    /// Encodes an image already resized so its long side is the encoder's input size (the official
    /// <c>set_torch_image</c>), for an original image of <paramref name="originalSize"/>.
    /// </summary>
    public void SetResizedImage(RgbImage resized, (int H, int W) originalSize, ActivationRecorder? recorder = null)
    {
        int s = _model.ImageEncoder.ImageSize;
        if (Math.Max(resized.Width, resized.Height) != s || resized.Width > s || resized.Height > s)
            throw new ArgumentException($"The resized image must have a long side of {s} pixels, got {resized.Width}x{resized.Height}.");
        Tensor input = SamPreprocess.ToInputTensor(resized, s);
        Tensor features = _model.ImageEncoder.Forward(input, recorder);
        _embedding = new ImageEmbedding(features, originalSize, (resized.Height, resized.Width), _model.Architecture);
    }

    /// <summary>
    /// Uses a saved embedding instead of running the encoder. An embedding recorded for another
    /// architecture or with the wrong shape is refused.
    /// </summary>
    public void SetEmbedding(ImageEmbedding embedding)
    {
        var e = _model.ImageEncoder;
        if (embedding.Architecture is not null && embedding.Architecture != _model.Architecture)
            throw new ArgumentException($"The embedding was made by '{embedding.Architecture}', not by this model ('{_model.Architecture}').");
        var shape = embedding.Embedding.Shape;
        if (shape[0] != e.EmbeddingChannels || shape[1] != e.EmbeddingSize || shape[2] != e.EmbeddingSize)
            throw new ArgumentException($"The embedding has shape [{string.Join(", ", shape)}], this model needs [{e.EmbeddingChannels}, {e.EmbeddingSize}, {e.EmbeddingSize}].");
        var input = embedding.InputSize;
        if (input == (0, 0)) input = _transform.GetPreprocessShape(embedding.OriginalSize.H, embedding.OriginalSize.W);
        _embedding = new ImageEmbedding(embedding.Embedding, embedding.OriginalSize, input, embedding.Architecture ?? _model.Architecture);
    }

    /// <summary>
    /// Predicts masks for one prompt given in original-image pixels. With <paramref name="multimask"/>
    /// the three disambiguating masks are returned, otherwise the single-mask output.
    /// </summary>
    public MaskResult Predict(Prompt prompt, bool multimask = true, DecoderTrace? trace = null)
    {
        var emb = Embedding;
        var sam = _model.Sam!;
        prompt.Validate(emb.OriginalSize, sam.PromptEncoder.MaskInputSize);
        float[] points = prompt.PointCount > 0 ? _transform.ApplyCoords(prompt.Points!.AsSpan(0, 2 * prompt.PointCount), emb.OriginalSize) : [];
        float[] box = prompt.Box is null ? [] : _transform.ApplyBoxes(prompt.Box, emb.OriginalSize);
        return Decode(points, prompt.Labels ?? [], box, prompt.MaskInput, multimask, trace);
    }

    public MaskResult Predict(float[]? pointCoords, int[]? pointLabels, float[]? box = null, float[]? maskInput = null, bool multimask = true) =>
        Predict(new Prompt(pointCoords, pointLabels ?? (pointCoords is null ? null : Enumerable.Repeat(1, pointCoords.Length / 2).ToArray()), box, maskInput), multimask);

    /// <summary>Predicts many prompts (e.g. boxes or point sets) against the same image, like <c>predict_torch</c>.</summary>
    public MaskResult[] PredictBatch(IReadOnlyList<Prompt> prompts, bool multimask = true, DecoderTrace? trace = null)
    {
        var results = new MaskResult[prompts.Count];
        for (int i = 0; i < prompts.Count; i++) results[i] = Predict(prompts[i], multimask, trace);
        return results;
    }

    /// <summary>Decodes coordinates already mapped into the resized input frame.</summary>
    private MaskResult Decode(float[] points, int[] labels, float[] box, float[]? maskInput, bool multimask, DecoderTrace? trace)
    {
        var emb = Embedding;
        var sam = _model.Sam!;
        var pe = sam.PromptEncoder;
        int g = pe.EmbeddingSize;
        float[] sparse = pe.EmbedSparse(points, labels, box);
        trace?.Sparse.Add(sparse);
        float[] dense = pe.EmbedDense(maskInput);
        var pred = sam.MaskDecoder.PredictMasks(emb.Embedding.Data, pe.DensePositionalEncoding(), sparse, sparse.Length / pe.EmbedDim, dense, g, g, trace: trace);
        int first = multimask ? 1 : 0, count = multimask ? pred.MaskCount - 1 : 1;
        int lowPixels = pred.Height * pred.Width;
        float[] lowRes = pred.LowResLogits.AsSpan(first * lowPixels, count * lowPixels).ToArray();
        float[] scores = pred.Iou.AsSpan(first, count).ToArray();
        float[] logits = MaskPostprocessing.Postprocess(lowRes, count, pred.Height, pred.Width, _model.ImageEncoder.ImageSize, emb.InputSize, emb.OriginalSize);
        return new MaskResult(count, emb.OriginalSize.H, emb.OriginalSize.W, scores, logits, lowRes, pred.Height, pred.Width);
    }
}
