using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using SegmentAnything.Imaging;
using SegmentAnything.Server.Annotation;
using SegmentAnything.Server.Api;

namespace SegmentAnything.Server;

/// <summary>The state behind the API: the model, the images folder, the database and the caches.</summary>
public sealed class AnnotationSession
{
    public SamModel Model { get; }
    public string ModelName { get; }
    public ImageFolder Folder { get; }
    public AnnotationStore Store { get; }
    public EmbeddingCache Embeddings { get; }
    public DecodeCache Decodes { get; } = new();
    public ProposalCache Proposals { get; } = new();
    public EverythingRunner Everything { get; }
    public ServerOptions Options { get; }

    public AnnotationSession(SamModel model, string modelName, ServerOptions options)
    {
        (Model, ModelName, Options) = (model, modelName, options);
        Folder = new ImageFolder(options.ImagesFolder);
        Store = new AnnotationStore(options.DatabasePath);
        string modelKey = Sanitize(model.Architecture) + "-" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(modelName)))[..8];
        Embeddings = new EmbeddingCache(model, modelKey, options.ResolvedEmbeddingFolder, options.MemoryCacheEntries);
        Everything = new EverythingRunner(this);
        Rescan();
    }

    /// <summary>Registers the folder's images in the database; a file that is not a decodable image is skipped.</summary>
    public void Rescan()
    {
        var known = Store.Images().ToDictionary(i => i.FileName);
        foreach (string name in Folder.Scan())
        {
            if (known.ContainsKey(name)) continue;
            try
            {
                var (w, h) = ImageSize(Folder.Resolve(name));
                Store.UpsertImage(name, w, h, null);
            }
            catch (Exception e) when (e is ImageException or ApiException or IOException) { }
        }
    }

    private static (int W, int H) ImageSize(string path)
    {
        var img = ImageIO.Load(path);
        return (img.Width, img.Height);
    }

    public ImageRecord Image(long id) => Store.Image(id) ?? throw ApiException.NotFound($"No image with id {id}.");

    public string ImagePath(ImageRecord image) => Folder.Resolve(image.FileName);

    public async Task<JsonObject> EmbedAsync(long id, CancellationToken ct)
    {
        var image = Image(id);
        var sw = Stopwatch.StartNew();
        var (embedding, source) = await Embeddings.GetAsync(ImagePath(image), ct);
        if (Options.PrefetchNeighbours) PrefetchNeighbours(id);
        return new JsonObject
        {
            ["imageId"] = id,
            ["width"] = embedding.OriginalSize.W,
            ["height"] = embedding.OriginalSize.H,
            ["source"] = source.ToString().ToLowerInvariant(),
            ["ms"] = Math.Round(sw.Elapsed.TotalMilliseconds, 1),
        };
    }

    private void PrefetchNeighbours(long id)
    {
        var images = Store.Images();
        int i = images.ToList().FindIndex(x => x.Id == id);
        foreach (int j in new[] { i + 1, i - 1 })
        {
            if (j < 0 || j >= images.Count) continue;
            if (!Folder.TryResolve(images[j].FileName, out string path)) continue;
            _ = Task.Run(async () =>
            {
                try { await Embeddings.GetAsync(path, background: true); }
                catch (Exception) { } // a broken neighbour is reported when it is opened, not here
            });
        }
    }

    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<ImageEmbedding, SamPredictor> _predictors = new();

    private SamPredictor PredictorFor(ImageEmbedding embedding) => _predictors.GetValue(embedding, e =>
    {
        var predictor = new SamPredictor(Model);
        predictor.SetEmbedding(e);
        return predictor;
    });

    public async Task<JsonObject> DecodeAsync(long id, DecodeRequest request, CancellationToken ct)
    {
        var image = Image(id);
        var (embedding, _) = await Embeddings.GetAsync(ImagePath(image), ct);
        var sw = Stopwatch.StartNew();
        var prompt = ToPrompt(id, request);
        var predictor = PredictorFor(embedding);
        MaskResult result;
        // One predictor per cached embedding keeps the image's prompt-independent decoder work; its decodes run one at a time.
        lock (predictor) result = predictor.Predict(prompt, request.Multimask);
        var masks = new CocoRle[result.Count];
        var lowRes = new float[result.Count][];
        var list = new JsonArray();
        for (int i = 0; i < result.Count; i++)
        {
            var mask = result.Mask(i);
            masks[i] = MaskRle.ToCocoRle(mask, result.Height, result.Width);
            lowRes[i] = result.LowRes(i);
            var (bx, by, bw, bh) = MaskStats.BoundingBox(mask, result.Height, result.Width);
            list.Add(new JsonObject
            {
                ["index"] = i,
                ["score"] = result.Scores[i],
                ["area"] = masks[i].Area,
                ["bbox"] = new JsonArray(bx, by, bw, bh),
                ["rle"] = new JsonObject { ["size"] = new JsonArray(result.Height, result.Width), ["counts"] = new JsonArray(masks[i].Counts.Select(c => (JsonNode)c).ToArray()) },
            });
        }
        var entry = Decodes.Add(id, masks, result.Scores, lowRes, PromptsJson(request));
        return new JsonObject
        {
            ["decodeId"] = entry.Id,
            ["imageId"] = id,
            ["best"] = result.BestIndex(),
            ["masks"] = list,
            ["ms"] = Math.Round(sw.Elapsed.TotalMilliseconds, 2),
        };
    }

    private Prompt ToPrompt(long id, DecodeRequest r)
    {
        var points = r.Points ?? [];
        if (points.Length > 64) throw ApiException.BadRequest("At most 64 points per prompt.");
        if (points.Any(p => p is null || p.Length != 2)) throw ApiException.BadRequest("Each point must be [x, y].");
        int[] labels = r.Labels ?? Enumerable.Repeat(1, points.Length).ToArray();
        if (labels.Length != points.Length) throw ApiException.BadRequest($"{points.Length} points but {labels.Length} labels.");
        if (labels.Any(l => l is not (0 or 1))) throw ApiException.BadRequest("Point labels must be 1 (foreground) or 0 (background).");
        float[]? maskInput = null;
        if (r.MaskInput is { } m)
        {
            var prev = Decodes.Get(m.DecodeId, id);
            if (m.Index < 0 || m.Index >= prev.LowRes.Length) throw ApiException.BadRequest($"Mask index {m.Index} is out of range.");
            maskInput = prev.LowRes[m.Index];
        }
        return new Prompt(points.Length == 0 ? null : points.SelectMany(p => p).ToArray(), points.Length == 0 ? null : labels, r.Box, maskInput);
    }

    private static string PromptsJson(DecodeRequest r) => JsonSerializer.Serialize(new
    {
        points = r.Points ?? [],
        labels = r.Labels ?? Enumerable.Repeat(1, r.Points?.Length ?? 0).ToArray(),
        box = r.Box,
        multimask = r.Multimask,
        refined = r.MaskInput is not null,
    });

    public AnnotationRecord Accept(long id, AcceptRequest request)
    {
        var image = Image(id);
        CocoRle rle;
        double? iou = request.PredictedIou;
        string? prompts = request.Prompts is { ValueKind: not JsonValueKind.Undefined and not JsonValueKind.Null } p ? p.GetRawText() : null;
        if (request.DecodeId is not null)
        {
            var d = Decodes.Get(request.DecodeId, id);
            if (request.Index < 0 || request.Index >= d.Masks.Length) throw ApiException.BadRequest($"Mask index {request.Index} is out of range.");
            rle = d.Masks[request.Index];
            iou ??= d.Scores[request.Index];
            prompts ??= d.PromptsJson;
        }
        else if (request.Segmentation is { } s)
        {
            rle = ParseRle(s);
        }
        else throw ApiException.BadRequest("Give either decodeId and index, or a segmentation RLE.");
        if (rle.Height != image.Height || rle.Width != image.Width)
            throw ApiException.BadRequest($"The mask is {rle.Width}x{rle.Height}, the image {image.Width}x{image.Height}.");
        return Store.Add(new NewAnnotation(id, request.Category ?? "", rle, iou, prompts, ModelName));
    }

    /// <summary>
    /// Stores proposals of a "segment everything" run (all, or those at the given indices, each once)
    /// with source "everything"; each is committed before the next, and the list is returned in order.
    /// </summary>
    public List<AnnotationRecord> AcceptProposals(long id, string? proposalsId, AcceptProposalsRequest request)
    {
        Image(id);
        var set = Proposals.Get(proposalsId, id);
        string category = AnnotationStore.CleanCategory(request.Category);
        int[] indices = request.Indices ?? Enumerable.Range(0, set.Records.Count).ToArray();
        foreach (int i in indices)
            if (i < 0 || i >= set.Records.Count) throw ApiException.BadRequest($"Proposal index {i} is out of range (0..{set.Records.Count - 1}).");
        var stored = new List<AnnotationRecord>();
        foreach (int i in indices.Distinct())
        {
            var r = set.Records[i];
            string prompts = JsonSerializer.Serialize(new { everything = true, point = r.PointCoords, cropBox = r.CropBox, stabilityScore = r.StabilityScore, options = JsonNode.Parse(set.OptionsJson) });
            stored.Add(Store.Add(new NewAnnotation(id, category, r.Segmentation, r.PredictedIou, prompts, ModelName, Source: "everything")));
        }
        return stored;
    }

    public static CocoRle ParseRle(RleDto s)
    {
        if (s.Size is not { Length: 2 } || s.Size[0] <= 0 || s.Size[1] <= 0) throw ApiException.BadRequest("segmentation.size must be [height, width].");
        int[] counts = s.Counts.ValueKind switch
        {
            JsonValueKind.String => MaskRle.CountsFromString(s.Counts.GetString()!),
            JsonValueKind.Array => s.Counts.EnumerateArray().Select(e => e.GetInt32()).ToArray(),
            _ => throw ApiException.BadRequest("segmentation.counts must be a string or an array of run lengths."),
        };
        var rle = new CocoRle(s.Size[0], s.Size[1], counts);
        MaskRle.Decode(rle); // validates the run lengths against the size
        return rle;
    }

    public JsonObject ImageJson(ImageRecord i) => new()
    {
        ["id"] = i.Id,
        ["fileName"] = i.FileName,
        ["width"] = i.Width,
        ["height"] = i.Height,
        ["annotations"] = i.AnnotationCount,
        ["embedded"] = Folder.TryResolve(i.FileName, out string p) && Embeddings.IsCached(p),
    };

    public static JsonObject AnnotationJson(AnnotationRecord a) => new()
    {
        ["id"] = a.Id,
        ["imageId"] = a.ImageId,
        ["category"] = a.Category,
        ["categoryId"] = a.CategoryId,
        ["area"] = a.Area,
        ["bbox"] = new JsonArray(a.Bbox.Select(v => (JsonNode)v).ToArray()),
        ["predictedIou"] = a.PredictedIou,
        ["model"] = a.Model,
        ["source"] = a.Source,
        ["createdAt"] = a.CreatedAt.ToString("O"),
        ["prompts"] = a.PromptsJson is null ? null : JsonNode.Parse(a.PromptsJson),
        ["polygons"] = new JsonArray(a.Polygons.Select(r => (JsonNode)new JsonArray(r.Select(v => (JsonNode)v).ToArray())).ToArray()),
        ["rle"] = new JsonObject { ["size"] = new JsonArray(a.Rle.Height, a.Rle.Width), ["counts"] = new JsonArray(a.Rle.Counts.Select(c => (JsonNode)c).ToArray()) },
    };

    private static string Sanitize(string s) => new(s.Select(c => char.IsLetterOrDigit(c) || c is '_' or '-' ? c : '_').Take(48).ToArray());
}
