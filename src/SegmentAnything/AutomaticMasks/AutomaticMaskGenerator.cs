using System.Diagnostics;
using SegmentAnything.Imaging;

namespace SegmentAnything.AutomaticMasks;

/// <summary>
/// The official <c>SamAutomaticMaskGenerator</c> ("segment everything"): a grid of point prompts over
/// the image and over crops of it, each decoded into three masks, filtered by predicted IoU, stability
/// and crop edges, de-duplicated by box NMS within and across crops, optionally cleaned of small
/// islands and holes. Works with every model family through <see cref="SamPredictor.PredictPoints"/>.
/// </summary>
public sealed class AutomaticMaskGenerator
{
    private readonly SamPredictor _predictor;
    private readonly IReadOnlyList<double[]> _grids;
    private readonly System.Collections.Concurrent.ConcurrentBag<MaskWorkspace> _workspaces = [];

    public AutomaticMaskGeneratorOptions Options { get; }

    /// <summary>Timings and counts of the last <see cref="Generate"/>.</summary>
    public AmgTimings? LastTimings { get; private set; }

    public AutomaticMaskGenerator(SamModel model, AutomaticMaskGeneratorOptions? options = null)
        : this(new SamPredictor(model ?? throw new ArgumentNullException(nameof(model))), options) { }

    public AutomaticMaskGenerator(SamPredictor predictor, AutomaticMaskGeneratorOptions? options = null)
    {
        _predictor = predictor ?? throw new ArgumentNullException(nameof(predictor));
        Options = options ?? new AutomaticMaskGeneratorOptions();
        Options.Validate();
        _grids = Options.PointsPerSide is int n
            ? AmgGeometry.BuildAllLayerPointGrids(n, Options.CropNLayers, Options.CropNPointsDownscaleFactor)
            : Options.PointGrids!;
    }

    private sealed class Candidate
    {
        public required CocoRle Rle;
        public required long Area;
        public required BoxXyxy Box;
        public required float Iou;
        public required float Stability;
        public required double X, Y;
        public required BoxXyxy Crop;
    }

    /// <summary>
    /// Generates the masks of <paramref name="image"/>, in the official output order. An image where
    /// nothing survives the filters gives an empty list. <paramref name="progress"/> receives
    /// (decoded batches, total batches).
    /// </summary>
    public List<MaskRecord> Generate(RgbImage image, IProgress<(int Done, int Total)>? progress = null, CancellationToken cancellation = default) =>
        Run(image, null, progress, cancellation);

    /// <summary>
    /// Like <see cref="Generate"/>, but the full-image crop is decoded from <paramref name="fullImageEmbedding"/>
    /// (an embedding of this very image, e.g. from an embedding cache) instead of running the encoder again.
    /// Smaller crops of <c>crop_n_layers</c> &gt; 0 are still encoded.
    /// </summary>
    public List<MaskRecord> GenerateWithEmbedding(RgbImage image, ImageEmbedding fullImageEmbedding,
        IProgress<(int Done, int Total)>? progress = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(fullImageEmbedding);
        if (fullImageEmbedding.OriginalSize != (image.Height, image.Width))
            throw new ArgumentException($"The embedding is of a {fullImageEmbedding.OriginalSize.W}x{fullImageEmbedding.OriginalSize.H} image, not of this {image.Width}x{image.Height} one.");
        return Run(image, fullImageEmbedding, progress, cancellation);
    }

    private List<MaskRecord> Run(RgbImage image, ImageEmbedding? fullImageEmbedding, IProgress<(int Done, int Total)>? progress, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(image);
        var o = Options;
        var crops = AmgGeometry.GenerateCropBoxes(image.Height, image.Width, o.CropNLayers, o.CropOverlapRatio);
        int totalBatches = 0;
        foreach (var (_, layer) in crops) totalBatches += (_grids[layer].Length / 2 + o.PointsPerBatch - 1) / o.PointsPerBatch;
        var clock = new StageClock();
        var all = new List<Candidate>();
        int done = 0, candidates = 0, prompts = 0;
        foreach (var (crop, layer) in crops)
        {
            cancellation.ThrowIfCancellationRequested();
            var cropData = ProcessCrop(image, fullImageEmbedding, crop, layer, clock, ref candidates, ref prompts, () => progress?.Report((++done, totalBatches)), cancellation);
            all.AddRange(cropData);
        }
        clock.Start(Stage.Post);
        if (crops.Count > 1 && all.Count > 0)
        {
            var scores = all.Select(c => 1f / (float)((long)c.Crop.Width * c.Crop.Height)).ToArray();
            all = BoxNms.Run(all.Select(c => c.Box).ToList(), scores, o.CropNmsThresh).Select(i => all[i]).ToList();
        }
        if (o.MinMaskRegionArea > 0 && all.Count > 0) all = PostprocessSmallRegions(all, o.MinMaskRegionArea, Math.Max(o.BoxNmsThresh, o.CropNmsThresh));
        var records = all.Select(c => new MaskRecord(c.Rle, c.Area, c.Box.ToXywh(), c.Iou, [c.X, c.Y], c.Stability, c.Crop.ToXywh())).ToList();
        clock.Stop();
        LastTimings = new AmgTimings(clock.Ms(Stage.Encoder), clock.Ms(Stage.Decoder), clock.Ms(Stage.Post), prompts, candidates, records.Count);
        return records;
    }

    private List<Candidate> ProcessCrop(RgbImage image, ImageEmbedding? fullImageEmbedding, BoxXyxy crop, int layer, StageClock clock, ref int candidates, ref int prompts,
        Action batchDone, CancellationToken cancellation)
    {
        var o = Options;
        clock.Start(Stage.Encoder);
        bool isFullImage = crop.X0 == 0 && crop.Y0 == 0 && crop.X1 == image.Width && crop.Y1 == image.Height;
        if (isFullImage && fullImageEmbedding is not null) _predictor.SetEmbedding(fullImageEmbedding);
        else _predictor.SetImage(Crop(image, crop));
        double[] grid = _grids[layer];
        int n = grid.Length / 2, cw = crop.Width, ch = crop.Height;
        var points = new double[grid.Length];
        for (int i = 0; i < n; i++)
        {
            points[2 * i] = grid[2 * i] * cw;
            points[2 * i + 1] = grid[2 * i + 1] * ch;
        }
        var imageBox = new BoxXyxy(0, 0, image.Width, image.Height);
        var data = new List<Candidate>();
        // The candidates of one batch are evaluated while the decoder runs the next (the decoder's
        // synchronisation points leave cores idle that they fill); one batch at most is in flight.
        Task<Candidate?[]>? pending = null;
        void Collect()
        {
            if (pending is null) return;
            clock.Start(Stage.Post);
            var found = pending.GetAwaiter().GetResult();
            pending = null;
            foreach (var c in found) if (c is not null) data.Add(c);
            batchDone();
        }
        try
        {
            for (int b0 = 0; b0 < n; b0 += o.PointsPerBatch)
            {
                cancellation.ThrowIfCancellationRequested();
                int bn = Math.Min(o.PointsPerBatch, n - b0);
                clock.Start(Stage.Decoder);
                // Points whose every mask fails the IoU filter skip the decoder's upscaling; Evaluate drops them first.
                var pred = _predictor.PredictPoints(points.AsSpan(2 * b0, 2 * bn), multimask: true, o.PredIouThresh > 0 ? o.PredIouThresh : null);
                prompts += bn;
                candidates += bn * pred.MasksPerPoint;
                Collect();
                int first = b0;
                pending = Task.Run(() => EvaluateBatch(pred, first, bn, points, crop, imageBox, image.Height, image.Width), cancellation);
            }
            Collect();
        }
        finally
        {
            // An exception leaves no evaluation running on the workspaces.
            if (pending is not null) try { pending.Wait(); } catch (Exception) { }
        }
        clock.Start(Stage.Post);
        if (data.Count == 0) return data;
        var keep = BoxNms.Run(data.Select(c => c.Box).ToList(), data.Select(c => c.Iou).ToArray(), o.BoxNmsThresh);
        var kept = new List<Candidate>(keep.Length);
        foreach (int i in keep)
        {
            var c = data[i];
            c.Box = c.Box.Offset(crop.X0, crop.Y0);
            c.X += crop.X0;
            c.Y += crop.Y0;
            kept.Add(c);
        }
        return kept;
    }

    /// <summary>A batch's candidates, each independent: one worker each, results kept in candidate order (null where filtered out).</summary>
    private Candidate?[] EvaluateBatch(PointBatchPrediction pred, int firstPoint, int count, double[] points, BoxXyxy crop, BoxXyxy imageBox, int imageH, int imageW)
    {
        int m = pred.MasksPerPoint;
        var found = new Candidate?[count * m];
        Parallel.For(0, count * m, RentWorkspace, (c, _, ws) =>
        {
            int i = c / m, p = firstPoint + i;
            found[c] = Evaluate(ws, pred, i, c % m, crop, imageBox, imageH, imageW, points[2 * p], points[2 * p + 1]);
            return ws;
        }, _workspaces.Add);
        return found;
    }

    private MaskWorkspace RentWorkspace() => _workspaces.TryTake(out var ws) ? ws : new MaskWorkspace();

    /// <summary>
    /// One decoded mask through amg's per-candidate steps: the IoU filter (before any full-size work, which
    /// it does not depend on), upsampling to the crop, stability score, threshold, box, the crop-edge
    /// filter, uncropping and the RLE. Null when filtered out.
    /// </summary>
    private Candidate? Evaluate(MaskWorkspace ws, PointBatchPrediction pred, int i, int k, BoxXyxy crop, BoxXyxy imageBox, int imageH, int imageW,
        double x, double y)
    {
        var o = Options;
        float iou = pred.Iou[i * pred.MasksPerPoint + k];
        if (o.PredIouThresh > 0 && !(iou > o.PredIouThresh)) return null;
        // amg thresholds at mask_threshold ± offset, mask_threshold being 0.
        float high = MaskPostprocessing.MaskThreshold + o.StabilityScoreOffset, low = MaskPostprocessing.MaskThreshold - o.StabilityScoreOffset;
        var emb = _predictor.Embedding;
        if (_predictor.Model.EfficientSam is null)
            ws.AnalyzeSam(pred.LowRes(i, k), pred.LowResHeight, pred.LowResWidth, _predictor.Model.ImageEncoder.ImageSize, emb.InputSize, emb.OriginalSize,
                high, low, pred.InclusiveThreshold);
        else
            ws.AnalyzePlane(_predictor.UpscaleMask(pred.LowRes(i, k), pred.LowResHeight, pred.LowResWidth), crop.Height, crop.Width, high, low, pred.InclusiveThreshold);
        var bits = ws.Bits;
        float stability = bits.StabilityScore;
        if (o.StabilityScoreThresh > 0 && !(stability >= o.StabilityScoreThresh)) return null;
        var box = bits.Box();
        if (AmgGeometry.IsBoxNearCropEdge(box, crop, imageBox)) return null;
        return new Candidate { Rle = bits.ToCocoRle(crop, imageH, imageW), Area = bits.Area(), Box = box, Iou = iou, Stability = stability, X = x, Y = y, Crop = crop };
    }

    /// <summary>amg's <c>postprocess_small_regions</c>: fill small holes, drop small islands, prefer unchanged masks in a new NMS.</summary>
    private static List<Candidate> PostprocessSmallRegions(List<Candidate> data, int minArea, float nmsThresh)
    {
        int n = data.Count;
        var masks = new bool[n][];
        var scores = new float[n];
        var boxes = new BoxXyxy[n];
        Parallel.For(0, n, i =>
        {
            var rle = data[i].Rle;
            bool[] mask = MaskRle.Decode(rle);
            var (m1, changed1) = ConnectedComponents.RemoveSmallRegions(mask, rle.Height, rle.Width, minArea, holes: true);
            var (m2, changed2) = ConnectedComponents.RemoveSmallRegions(m1, rle.Height, rle.Width, minArea, holes: false);
            masks[i] = m2;
            scores[i] = changed1 || changed2 ? 0f : 1f;
            var (x0, y0, x1, y1) = MaskStats.BoundingBoxXyxy(m2, rle.Height, rle.Width);
            boxes[i] = new BoxXyxy(x0, y0, x1, y1);
        });
        var keep = BoxNms.Run(boxes, scores, nmsThresh);
        var result = new List<Candidate>(keep.Length);
        foreach (int i in keep)
        {
            var c = data[i];
            if (scores[i] == 0f)
            {
                c.Rle = MaskRle.ToCocoRle(masks[i], c.Rle.Height, c.Rle.Width);
                c.Area = c.Rle.Area;
                c.Box = boxes[i];
            }
            result.Add(c);
        }
        return result;
    }

    private static RgbImage Crop(RgbImage image, BoxXyxy crop)
    {
        if (crop.X0 == 0 && crop.Y0 == 0 && crop.X1 == image.Width && crop.Y1 == image.Height) return image;
        var outp = new RgbImage(crop.Width, crop.Height);
        for (int y = 0; y < crop.Height; y++)
            image.Pixels.AsSpan(((crop.Y0 + y) * image.Width + crop.X0) * 3, crop.Width * 3).CopyTo(outp.Row(y));
        return outp;
    }

    private enum Stage { Encoder, Decoder, Post }

    /// <summary>Accumulates wall time per stage; starting a stage ends the previous one.</summary>
    private sealed class StageClock
    {
        private readonly double[] _ms = new double[3];
        private readonly Stopwatch _sw = new();
        private Stage? _current;

        public void Start(Stage s)
        {
            Stop();
            _current = s;
            _sw.Restart();
        }

        public void Stop()
        {
            if (_current is Stage c) _ms[(int)c] += _sw.Elapsed.TotalMilliseconds;
            _current = null;
        }

        public double Ms(Stage s) => Math.Round(_ms[(int)s], 1);
    }
}
