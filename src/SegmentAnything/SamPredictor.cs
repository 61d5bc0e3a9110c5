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
    private DecoderImageContext? _decoderContext;
    private ImageEmbedding? _decoderContextFor;
    private EfficientSamImageContext? _efficientContext;
    private float[]? _inputBuffer;

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
        if (_model.EfficientSam is EfficientSam efficient)
        {
            // EfficientSAM stretches the whole image to its square input: there is no resized frame.
            int s = efficient.ImageEncoder.ImageSize;
            float[] buffer = TakeInputBuffer(3 * s * s);
            var input = new Tensor(buffer, 3, s, s);
            EfficientSamPreprocess.ToInputTensor(image, input);
            Tensor features = efficient.EncodeImage(input, recorder);
            _inputBuffer = buffer;
            _embedding = new ImageEmbedding(features, original, (s, s), _model.Architecture);
            return;
        }
        SetResizedImage(_transform.ApplyImage(image), original, recorder);
    }

    /// <summary>
    /// The encoder input (12 MB at 1024²) is dead once the encoder returns, so one buffer per predictor is
    /// reused: taken out while in use (a concurrent SetImage allocates its own rather than sharing it) and
    /// put back by the caller after the encoder.
    /// </summary>
    private float[] TakeInputBuffer(int length) =>
        Interlocked.Exchange(ref _inputBuffer, null) is { } b && b.Length == length ? b : new float[length];

    /// <summary>
    /// Encodes an image already resized so its long side is the encoder's input size (the official
    /// <c>set_torch_image</c>), for an original image of <paramref name="originalSize"/>.
    /// </summary>
    public void SetResizedImage(RgbImage resized, (int H, int W) originalSize, ActivationRecorder? recorder = null)
    {
        int s = _model.ImageEncoder.ImageSize;
        if (_model.Family == ModelFamily.EfficientSam)
            throw new InvalidOperationException("EfficientSAM stretches the whole image; use SetImage.");
        if (Math.Max(resized.Width, resized.Height) != s || resized.Width > s || resized.Height > s)
            throw new ArgumentException($"The resized image must have a long side of {s} pixels, got {resized.Width}x{resized.Height}.");
        float[] buffer = TakeInputBuffer(3 * s * s);
        Tensor input = SamPreprocess.ToInputTensor(resized, s, buffer);
        Tensor features = _model.ImageEncoder.Forward(input, recorder);
        _inputBuffer = buffer;
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
        if (_model.Family == ModelFamily.EfficientSam) input = (e.ImageSize, e.ImageSize);
        else if (input == (0, 0)) input = _transform.GetPreprocessShape(embedding.OriginalSize.H, embedding.OriginalSize.W);
        _embedding = new ImageEmbedding(embedding.Embedding, embedding.OriginalSize, input, embedding.Architecture ?? _model.Architecture);
    }

    /// <summary>
    /// Predicts masks for one prompt given in original-image pixels. With <paramref name="multimask"/>
    /// the three disambiguating masks are returned, otherwise the single-mask output.
    /// </summary>
    public MaskResult Predict(Prompt prompt, bool multimask = true, DecoderTrace? trace = null)
    {
        var emb = Embedding;
        if (_model.EfficientSam is not null) return PredictEfficient([prompt], multimask)[0];
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
        if (_model.EfficientSam is not null) return PredictEfficient(prompts, multimask);
        var results = new MaskResult[prompts.Count];
        for (int i = 0; i < prompts.Count; i++) results[i] = Predict(prompts[i], multimask, trace);
        return results;
    }

    /// <summary>
    /// EfficientSAM answers several queries in one call; each prompt is a query. A box becomes two
    /// points labelled 2 and 3 after the prompt's points. Its decoder always predicts three masks:
    /// all three with <paramref name="multimask"/>, otherwise the one with the highest predicted IoU.
    /// </summary>
    private MaskResult[] PredictEfficient(IReadOnlyList<Prompt> prompts, bool multimask)
    {
        var emb = Embedding;
        var efficient = _model.EfficientSam!;
        if (prompts.Count == 0) throw new ArgumentException("At least one prompt is needed.");
        var queries = new List<(float[] Points, int[] Labels)>();
        foreach (var p in prompts)
        {
            p.Validate(emb.OriginalSize, 0);
            if (p.MaskInput is not null) throw new ArgumentException("EfficientSAM does not take a mask input.");
            var pts = (p.Points ?? []).Take(2 * p.PointCount).ToList();
            var labels = (p.Labels ?? []).ToList();
            if (p.Box is { } box)
            {
                pts.AddRange(box);
                labels.AddRange([2, 3]);
            }
            queries.Add((pts.ToArray(), labels.ToArray()));
        }
        int n = queries.Max(q => q.Labels.Length);
        var points = new float[queries.Count, n, 2];
        var labelGrid = new int[queries.Count, n];
        for (int q = 0; q < queries.Count; q++)
            for (int i = 0; i < n; i++)
            {
                bool real = i < queries[q].Labels.Length;
                points[q, i, 0] = real ? queries[q].Points[2 * i] : -1;
                points[q, i, 1] = real ? queries[q].Points[2 * i + 1] : -1;
                labelGrid[q, i] = real ? queries[q].Labels[i] : -1;
            }
        var pred = efficient.Predict(EfficientContext(), points, labelGrid, emb.OriginalSize);
        int m = pred.MasksPerQuery, low = pred.LowResLogits.Shape[^1], lowPlane = low * low;
        var results = new MaskResult[queries.Count];
        for (int q = 0; q < queries.Count; q++)
        {
            // Full-size logits are left to the result: bicubic upsampling is per plane, so a picked mask's
            // logits are those the whole batch's upsampling would give.
            var iou = pred.Iou.Data.AsSpan(q * m, m);
            int count = multimask ? m : 1, best = ArgMax(iou);
            var scores = new float[count];
            var lowRes = new float[count * lowPlane];
            for (int k = 0; k < count; k++)
            {
                int src = multimask ? k : best;
                scores[k] = iou[src];
                pred.LowResLogits.Data.AsSpan((q * m + src) * lowPlane, lowPlane).CopyTo(lowRes.AsSpan(k * lowPlane));
            }
            results[q] = MaskResult.ForEfficientSam(count, emb.OriginalSize, scores, lowRes, low);
        }
        return results;
    }

    private static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    /// <summary>
    /// Decodes one positive point per prompt, points given as interleaved (x, y) in original-image pixels
    /// (float64, as the automatic mask generator computes them), without upsampling: the fast path for
    /// many prompts. The image-only part of the decoder is computed once per image and prompts are decoded
    /// in groups; each prompt's result is independent of how many are decoded together.
    /// </summary>
    public PointBatchPrediction PredictPoints(ReadOnlySpan<double> pointsXY, bool multimask = true) => PredictPoints(pointsXY, multimask, null);

    /// <summary>
    /// <see cref="PredictPoints(ReadOnlySpan{double}, bool)"/> for the automatic mask generator's IoU filter: a
    /// point none of whose masks has a predicted IoU above <paramref name="predIouThresh"/> skips the decoder's
    /// upscaling, the larger part of its cost, and its logits are left at zero
    /// (<see cref="PointBatchPrediction.HasLogits"/>). Every other point's outputs are exactly those without a threshold.
    /// </summary>
    public PointBatchPrediction PredictPoints(ReadOnlySpan<double> pointsXY, bool multimask, float? predIouThresh)
    {
        var emb = Embedding;
        if (pointsXY.Length % 2 != 0) throw new ArgumentException("Points must come in (x, y) pairs.");
        int count = pointsXY.Length / 2;
        if (count == 0) throw new ArgumentException("At least one point is needed.");
        foreach (double v in pointsXY)
            if (!double.IsFinite(v)) throw new ArgumentException("Point coordinates must be finite numbers.");
        if (_model.EfficientSam is not null) return PredictPointsEfficient(pointsXY, multimask);
        var sam = _model.Sam!;
        var pe = sam.PromptEncoder;
        int g = pe.EmbeddingSize;
        var context = DecoderContext();
        var (newH, newW) = _transform.GetPreprocessShape(emb.OriginalSize.H, emb.OriginalSize.W);
        double sx = (double)newW / emb.OriginalSize.W, sy = (double)newH / emb.OriginalSize.H;
        var scaled = new double[pointsXY.Length];
        for (int i = 0; i < count; i++)
        {
            scaled[2 * i] = pointsXY[2 * i] * sx;
            scaled[2 * i + 1] = pointsXY[2 * i + 1] * sy;
        }
        float[] sparse = pe.EmbedPositivePoints(scaled);
        int first = multimask ? 1 : 0, masks = multimask ? sam.MaskDecoder.NumMaskTokens - 1 : 1;
        var (low, iou) = sam.MaskDecoder.PredictMasksBatched(context, sparse, count, 2, g, g, first, masks, predIouThresh);
        return new PointBatchPrediction(low, iou, count, masks, 4 * g, 4 * g, InclusiveThreshold: false) { IouThreshold = predIouThresh };
    }

    /// <summary>The image's prompt-independent decoder work without a mask input, computed once per embedding.</summary>
    private DecoderImageContext DecoderContext()
    {
        var emb = Embedding;
        if (_decoderContext is null || !ReferenceEquals(_decoderContextFor, emb))
        {
            var sam = _model.Sam!;
            var pe = sam.PromptEncoder;
            int g = pe.EmbeddingSize;
            _decoderContext = sam.MaskDecoder.PrepareImage(emb.Embedding.Data, pe.DensePositionalEncoding(), pe.EmbedDense([]), g, g);
            _decoderContextFor = emb;
        }
        return _decoderContext;
    }

    /// <summary>EfficientSAM's prompt-independent decoder work for the current embedding, computed once per embedding.</summary>
    private EfficientSamImageContext EfficientContext()
    {
        var emb = Embedding;
        if (_efficientContext is null || !ReferenceEquals(_efficientContext.Embedding, emb.Embedding))
            _efficientContext = _model.EfficientSam!.PrepareImage(emb.Embedding);
        return _efficientContext;
    }

    /// <summary>One low-resolution mask of <see cref="PredictPoints"/> as logits [H, W] at the original image size.</summary>
    public float[] UpscaleMask(ReadOnlySpan<float> lowRes, int lowH, int lowW)
    {
        var emb = Embedding;
        if (lowRes.Length != lowH * lowW) throw new ArgumentException($"A low-resolution mask of {lowW}x{lowH} needs {lowH * lowW} values, got {lowRes.Length}.");
        if (_model.EfficientSam is not null)
            return TorchResize.Bicubic(lowRes, 1, lowH, lowW, emb.OriginalSize.H, emb.OriginalSize.W);
        return MaskPostprocessing.Postprocess(lowRes.ToArray(), 1, lowH, lowW, _model.ImageEncoder.ImageSize, emb.InputSize, emb.OriginalSize);
    }

    private PointBatchPrediction PredictPointsEfficient(ReadOnlySpan<double> pointsXY, bool multimask)
    {
        var emb = Embedding;
        var efficient = _model.EfficientSam!;
        int count = pointsXY.Length / 2, chunk = 8;
        float[]? low = null, iouOut = null;
        int lowSide = 0, m = 0, keep = 0;
        for (int c0 = 0; c0 < count; c0 += chunk)
        {
            int n = Math.Min(chunk, count - c0);
            var points = new float[n, 1, 2];
            var labels = new int[n, 1];
            for (int i = 0; i < n; i++)
            {
                points[i, 0, 0] = (float)pointsXY[2 * (c0 + i)];
                points[i, 0, 1] = (float)pointsXY[2 * (c0 + i) + 1];
                labels[i, 0] = 1;
            }
            var pred = efficient.Predict(EfficientContext(), points, labels, emb.OriginalSize);
            if (low is null)
            {
                m = pred.MasksPerQuery;
                lowSide = pred.LowResLogits.Shape[^1];
                keep = multimask ? m : 1;
                low = new float[(long)count * keep * lowSide * lowSide];
                iouOut = new float[count * keep];
            }
            int plane = lowSide * lowSide;
            for (int i = 0; i < n; i++)
            {
                var iou = pred.Iou.Data.AsSpan(i * m, m);
                for (int k = 0; k < keep; k++)
                {
                    int src = multimask ? k : ArgMax(iou);
                    iouOut![(c0 + i) * keep + k] = iou[src];
                    pred.LowResLogits.Data.AsSpan((i * m + src) * plane, plane).CopyTo(low.AsSpan(((c0 + i) * keep + k) * plane));
                }
            }
        }
        return new PointBatchPrediction(low!, iouOut!, count, keep, lowSide, lowSide, InclusiveThreshold: true);
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
        int first = multimask ? 1 : 0, count = multimask ? sam.MaskDecoder.NumMaskTokens - 1 : 1;
        float[] lowRes, scores;
        int lowH = 4 * g, lowW = 4 * g;
        if (maskInput is null && trace is null)
        {
            // Without a mask input the image side of the first block is the same for every prompt: reuse it.
            (lowRes, scores) = sam.MaskDecoder.PredictMasksBatched(DecoderContext(), sparse, 1, sparse.Length / pe.EmbedDim, g, g, first, count);
        }
        else (lowRes, scores, lowH, lowW) = DecodeFull(sparse, maskInput, first, count, trace);
        // Full-size logits are computed only if asked for: masks threshold row by row without them.
        return MaskResult.ForSam(count, emb.OriginalSize, scores, lowRes, lowH, lowW, _model.ImageEncoder.ImageSize, emb.InputSize);
    }

    /// <summary>The decoder with its whole image side per prompt (a mask input, or intermediates traced).</summary>
    private (float[] LowRes, float[] Scores, int H, int W) DecodeFull(float[] sparse, float[]? maskInput, int first, int count, DecoderTrace? trace)
    {
        var emb = Embedding;
        var sam = _model.Sam!;
        var pe = sam.PromptEncoder;
        int g = pe.EmbeddingSize;
        float[] dense = pe.EmbedDense(maskInput);
        var pred = sam.MaskDecoder.PredictMasks(emb.Embedding.Data, pe.DensePositionalEncoding(), sparse, sparse.Length / pe.EmbedDim, dense, g, g, trace: trace);
        int lowPixels = pred.Height * pred.Width;
        return (pred.LowResLogits.AsSpan(first * lowPixels, count * lowPixels).ToArray(), pred.Iou.AsSpan(first, count).ToArray(), pred.Height, pred.Width);
    }
}
