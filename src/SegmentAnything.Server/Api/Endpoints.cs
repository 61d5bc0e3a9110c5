using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using SegmentAnything.Imaging;
using SegmentAnything.Server.Annotation;

namespace SegmentAnything.Server.Api;

/// <summary>The JSON API (documented in docs/annotation-api.md).</summary>
internal static class Endpoints
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { AllowTrailingCommas = false };

    public static void Map(WebApplication app, AnnotationSession s)
    {
        app.MapGet("/api/info", () => Results.Json(new JsonObject
        {
            ["model"] = s.ModelName,
            ["architecture"] = s.Model.Architecture,
            ["family"] = s.Model.Family.ToString(),
            ["acceptsMaskInput"] = s.Model.Sam is not null,
            ["segmentEverything"] = true,
            ["images"] = s.Store.Images().Count,
            ["database"] = s.Store.Path,
            ["schemaVersion"] = s.Store.SchemaVersion,
        }));

        app.MapGet("/api/images", () => Results.Json(new JsonArray(s.Store.Images().Select(i => (JsonNode)s.ImageJson(i)).ToArray())));
        app.MapPost("/api/images", (Delegate)(Func<HttpContext, Task<IResult>>)(c => Upload(c, s)));
        app.MapGet("/api/images/{id}", (string id) => Results.Json(s.ImageJson(s.Image(Id(id)))));
        app.MapGet("/api/images/{id}/file", (string id) => ServeFile(s, s.Image(Id(id)).FileName));
        app.MapGet("/api/file", (string? path) => ServeFile(s, path));

        app.MapGet("/api/encoder", () =>
        {
            var e = s.Embeddings.EncoderStatus;
            return Results.Json(new
            {
                busy = e.Busy, background = e.Background, elapsedMs = Math.Round(e.ElapsedMs), estimatedMs = e.EstimatedMs is double m ? Math.Round(m) : (double?)null,
                waiting = e.Waiting, runs = s.Embeddings.EncoderRuns,
            });
        });
        app.MapPost("/api/images/{id}/embed", async (string id, CancellationToken ct) => Results.Json(await s.EmbedAsync(Id(id), ct)));
        app.MapPost("/api/images/{id}/decode", async (string id, HttpContext c) =>
            Results.Json(await s.DecodeAsync(Id(id), await Body<DecodeRequest>(c), c.RequestAborted)));
        app.MapPost("/api/images/{id}/everything", async (string id, HttpContext c) =>
        {
            long imageId = Id(id);
            s.Image(imageId);
            var request = c.Request.ContentLength is 0 || (c.Request.ContentLength is null && c.Request.ContentType is null) ? null : await Body<EverythingRequest>(c);
            return Results.Json(await s.Everything.RunAsync(imageId, request, c.RequestAborted));
        });
        app.MapGet("/api/images/{id}/everything/progress", (string id) =>
        {
            long imageId = Id(id);
            var p = s.Everything.Progress;
            return Results.Json(p is not null && p.ImageId == imageId
                ? new { running = true, done = p.Done, total = p.Total }
                : new { running = false, done = 0, total = 0 });
        });
        app.MapPost("/api/images/{id}/everything/{proposalsId}/accept", async (string id, string proposalsId, HttpContext c) =>
        {
            var stored = s.AcceptProposals(Id(id), proposalsId, await Body<AcceptProposalsRequest>(c));
            return Results.Json(new JsonArray(stored.Select(a => (JsonNode)AnnotationSession.AnnotationJson(a)).ToArray()), statusCode: 201);
        });

        app.MapGet("/api/images/{id}/annotations", (string id) =>
        {
            var image = s.Image(Id(id));
            return Results.Json(new JsonArray(s.Store.Annotations(image.Id).Select(a => (JsonNode)AnnotationSession.AnnotationJson(a)).ToArray()));
        });
        app.MapPost("/api/images/{id}/annotations", async (string id, HttpContext c) =>
        {
            var record = s.Accept(Id(id), await Body<AcceptRequest>(c));
            return Results.Json(AnnotationSession.AnnotationJson(record), statusCode: 201);
        });
        app.MapGet("/api/annotations/{id}", (string id) =>
            Results.Json(AnnotationSession.AnnotationJson(s.Store.Annotation(Id(id)) ?? throw ApiException.NotFound($"No annotation with id {id}."))));
        app.MapMethods("/api/annotations/{id}", ["PATCH"], async (string id, HttpContext c) =>
        {
            var patch = await Body<PatchAnnotationRequest>(c);
            if (patch.Category is null) throw ApiException.BadRequest("Nothing to change: give a category.");
            var updated = s.Store.SetCategory(Id(id), patch.Category) ?? throw ApiException.NotFound($"No annotation with id {id}.");
            return Results.Json(AnnotationSession.AnnotationJson(updated));
        });
        app.MapDelete("/api/annotations/{id}", (string id) =>
            s.Store.Delete(Id(id)) ? Results.NoContent() : throw ApiException.NotFound($"No annotation with id {id}."));

        app.MapGet("/api/categories", () => Results.Json(s.Store.Categories()));
        app.MapGet("/api/export", (string? format, bool? polygons, double? tolerance) => Export(s, format, polygons ?? false, tolerance ?? AnnotationStore.DefaultPolygonTolerance));
        app.MapPost("/api/import", async (HttpContext c) =>
        {
            using var doc = await JsonDocument.ParseAsync(c.Request.Body, default, c.RequestAborted);
            var r = CocoImport.Import(s.Store, doc.RootElement);
            return Results.Json(new { imported = r.Imported, skippedUnknownImage = r.SkippedUnknownImage, skippedEmpty = r.SkippedEmpty });
        });
        app.MapFallback("/api/{**rest}", (string rest) => Results.Json(new { error = $"No API endpoint '/api/{rest}'." }, statusCode: 404));
    }

    private static long Id(string raw) =>
        long.TryParse(raw, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long id) && id > 0
            ? id : throw ApiException.BadRequest($"'{raw}' is not a valid id.");

    private static async Task<T> Body<T>(HttpContext c) where T : class
    {
        if (c.Request.ContentType is string type && !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
            throw new ApiException(415, "Send the request body as application/json.");
        try
        {
            return await JsonSerializer.DeserializeAsync<T>(c.Request.Body, Json, c.RequestAborted)
                ?? throw ApiException.BadRequest("The request body must be a JSON object.");
        }
        catch (JsonException e)
        {
            throw new JsonException($"{e.Message}", e);
        }
    }

    private static IResult ServeFile(AnnotationSession s, string? relative)
    {
        string real = s.Folder.Resolve(relative);
        string ext = Path.GetExtension(real).ToLowerInvariant();
        if (!ImageFolder.IsImageName(real)) throw ApiException.Forbidden($"'{relative}' is not an image file.");
        string type = ext switch
        {
            ".png" => "image/png",
            ".jpg" or ".jpeg" => "image/jpeg",
            ".webp" => "image/webp",
            ".bmp" => "image/bmp",
            _ => "image/gif",
        };
        return Results.File(real, type);
    }

    /// <summary>Raw-body upload: <c>POST /api/images?name=x.png</c>. Decoded before it is kept, so a non-image is refused.</summary>
    private static async Task<IResult> Upload(HttpContext c, AnnotationSession s)
    {
        string target = s.Folder.NewFilePath(c.Request.Query["name"]);
        if (c.Request.ContentLength is long len && len > s.Options.MaxUploadBytes)
            throw new ApiException(413, $"The upload is {len} bytes; at most {s.Options.MaxUploadBytes} are accepted.");
        using var buffer = new MemoryStream();
        await c.Request.Body.CopyToAsync(buffer, c.RequestAborted);
        if (buffer.Length > s.Options.MaxUploadBytes)
            throw new ApiException(413, $"The upload is larger than the {s.Options.MaxUploadBytes} bytes accepted.");
        var image = ImageIO.Decode(buffer.ToArray(), Path.GetFileName(target));
        await using (var f = new FileStream(target, FileMode.CreateNew, FileAccess.Write))
            await f.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), c.RequestAborted);
        long id = s.Store.UpsertImage(Path.GetFileName(target), image.Width, image.Height, null);
        return Results.Json(s.ImageJson(s.Image(id)), statusCode: 201);
    }

    private static IResult Export(AnnotationSession s, string? format, bool polygons, double tolerance)
    {
        var kind = ExportOptions.ParseFormat(format ?? "coco");
        switch (kind)
        {
            case ExportFormat.Coco:
                return Results.Json(Exporter.Coco(s.Store, polygons, tolerance));
            case ExportFormat.Sa1b:
                var all = s.Store.AllAnnotations().ToLookup(a => a.ImageId);
                return Results.Json(new JsonArray(s.Store.Images().Select(i => (JsonNode)Exporter.Sa1bImage(i, all[i.Id])).ToArray()));
            default:
                string dir = Path.Combine(Path.GetTempPath(), "sam-export-" + Guid.NewGuid().ToString("N")[..12]);
                try
                {
                    Exporter.Write(s.Store, new ExportOptions(ExportFormat.Png), dir);
                    var zip = new MemoryStream();
                    ZipFile.CreateFromDirectory(dir, zip);
                    return Results.File(zip.ToArray(), "application/zip", "masks.zip");
                }
                finally { Directory.Delete(dir, true); }
        }
    }
}
