using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using SegmentAnything.AutomaticMasks;
using SegmentAnything.Imaging;
using SegmentAnything.Server.Api;

namespace SegmentAnything.Server;

/// <summary>
/// "Segment everything" for the page: the automatic mask generator on one image, decoding the full-image
/// grid from the cached embedding (no second encoder run), one run at a time, cancelled after
/// <see cref="ServerOptions.EverythingTimeout"/>. Its progress is readable while it runs.
/// </summary>
public sealed class EverythingRunner(AnnotationSession session)
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile ProgressState? _progress;

    /// <summary>Where the current run stands: the image, decoded point batches out of the total.</summary>
    public sealed record ProgressState(long ImageId, int Done, int Total);

    public ProgressState? Progress => _progress;

    public static AutomaticMaskGeneratorOptions ToOptions(EverythingRequest? r, ServerOptions limits)
    {
        var o = new AutomaticMaskGeneratorOptions();
        if (r is null) return o;
        o = o with
        {
            PointsPerSide = r.PointsPerSide ?? o.PointsPerSide,
            PointsPerBatch = r.PointsPerBatch ?? o.PointsPerBatch,
            PredIouThresh = r.PredIouThresh ?? o.PredIouThresh,
            StabilityScoreThresh = r.StabilityScoreThresh ?? o.StabilityScoreThresh,
            StabilityScoreOffset = r.StabilityScoreOffset ?? o.StabilityScoreOffset,
            BoxNmsThresh = r.BoxNmsThresh ?? o.BoxNmsThresh,
            CropNLayers = r.CropNLayers ?? o.CropNLayers,
            CropNmsThresh = r.CropNmsThresh ?? o.CropNmsThresh,
            CropOverlapRatio = r.CropOverlapRatio ?? o.CropOverlapRatio,
            CropNPointsDownscaleFactor = r.CropNPointsDownscaleFactor ?? o.CropNPointsDownscaleFactor,
            MinMaskRegionArea = r.MinMaskRegionArea ?? o.MinMaskRegionArea,
        };
        if (o.PointsPerSide > limits.MaxPointsPerSide)
            throw ApiException.BadRequest($"pointsPerSide must be at most {limits.MaxPointsPerSide} on this server, got {o.PointsPerSide}.");
        if (o.CropNLayers > limits.MaxCropLayers)
            throw ApiException.BadRequest($"cropNLayers must be at most {limits.MaxCropLayers} on this server, got {o.CropNLayers}.");
        if (o.PointsPerBatch > 1024) throw ApiException.BadRequest($"pointsPerBatch must be at most 1024, got {o.PointsPerBatch}.");
        o.Validate(); // ArgumentException → 400 with the official constructor's message
        return o;
    }

    public async Task<JsonObject> RunAsync(long id, EverythingRequest? request, CancellationToken requestAborted)
    {
        var image = session.Image(id);
        var options = ToOptions(request, session.Options);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(requestAborted);
        timeout.CancelAfter(session.Options.EverythingTimeout);
        var ct = timeout.Token;
        string path = session.ImagePath(image);
        var (embedding, source) = await session.Embeddings.GetAsync(path, ct);
        await _gate.WaitAsync(ct);
        var sw = Stopwatch.StartNew();
        List<MaskRecord> records;
        AmgTimings? timings;
        try
        {
            _progress = new ProgressState(id, 0, 0);
            var progress = new StoreProgress(p => _progress = new ProgressState(id, p.Done, p.Total));
            (records, timings) = await Task.Run(() =>
            {
                var rgb = ImageIO.Load(path);
                var generator = new AutomaticMaskGenerator(new SamPredictor(session.Model), options);
                var r = generator.GenerateWithEmbedding(rgb, embedding, progress, ct);
                return (r, generator.LastTimings);
            }, ct);
        }
        catch (OperationCanceledException) when (!requestAborted.IsCancellationRequested)
        {
            throw new ApiException(503, $"Segment everything took longer than {session.Options.EverythingTimeout.TotalSeconds:0} s and was stopped; try fewer points per side.");
        }
        finally
        {
            _progress = null;
            _gate.Release();
        }
        var set = session.Proposals.Add(id, records, JsonSerializer.Serialize(options with { PointGrids = null }, OptionsJson));
        var list = new JsonArray();
        for (int i = 0; i < records.Count; i++) list.Add(ProposalJson(i, records[i]));
        return new JsonObject
        {
            ["proposalsId"] = set.Id,
            ["imageId"] = id,
            ["count"] = records.Count,
            ["embeddingSource"] = source.ToString().ToLowerInvariant(),
            ["ms"] = Math.Round(sw.Elapsed.TotalMilliseconds, 1),
            ["timings"] = timings is null ? null : JsonSerializer.SerializeToNode(timings, OptionsJson),
            ["proposals"] = list,
        };
    }

    private static readonly JsonSerializerOptions OptionsJson = new(JsonSerializerDefaults.Web)
    {
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };

    private static JsonObject ProposalJson(int index, MaskRecord r) => new()
    {
        ["index"] = index,
        ["area"] = r.Area,
        ["bbox"] = new JsonArray(r.BBox.Select(v => (JsonNode)v).ToArray()),
        ["predictedIou"] = r.PredictedIou,
        ["stabilityScore"] = r.StabilityScore,
        ["pointCoords"] = new JsonArray(r.PointCoords[0], r.PointCoords[1]),
        ["cropBox"] = new JsonArray(r.CropBox.Select(v => (JsonNode)v).ToArray()),
        ["rle"] = new JsonObject
        {
            ["size"] = new JsonArray(r.Segmentation.Height, r.Segmentation.Width),
            ["counts"] = new JsonArray(r.Segmentation.Counts.Select(c => (JsonNode)c).ToArray()),
        },
    };

    /// <summary>IProgress without a synchronisation context hop: the value is only stored.</summary>
    private sealed class StoreProgress(Action<(int Done, int Total)> report) : IProgress<(int Done, int Total)>
    {
        public void Report((int Done, int Total) value) => report(value);
    }
}
