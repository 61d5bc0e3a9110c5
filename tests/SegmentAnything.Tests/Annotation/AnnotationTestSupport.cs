using System.Net.Http.Json;
using System.Text.Json;
using SegmentAnything.Imaging;
using SegmentAnything.Server;
using SegmentAnything.Tests.Support;

namespace SegmentAnything.Tests.Annotation;

/// <summary>Shared pieces of the annotation tests: the trained shapes model, temp image folders, reference masks.</summary>
internal static class AnnotationTestSupport
{
    public const string Checkpoint = "models/sam_vit_shapes.pt";
    public const string CaseName = "s0_point_multi";
    public const int ClickX = 135, ClickY = 150;

    private static readonly Lazy<SamModel> _model = new(() => SamModel.Load(Fixtures.Path_(Checkpoint)));

    public static SamModel Model => _model.Value;

    /// <summary>A fresh temp folder holding copies of the given scenes; the fixtures are never written to.</summary>
    public static string ImagesFolder(params string[] scenes)
    {
        string dir = CliHarness.TempDir();
        foreach (string s in scenes) File.Copy(Fixtures.Path_($"scenes/{s}"), Path.Combine(dir, s));
        return dir;
    }

    public static async Task<AnnotationServer> StartAsync(string images, string? db = null, Action<ServerOptions>? _ = null, long maxUpload = 32L << 20)
    {
        var options = new ServerOptions(images, db ?? Path.Combine(images, ".sam", "annotations.db"), Port: 0) { MaxUploadBytes = maxUpload, PrefetchNeighbours = false };
        var server = AnnotationServer.Create(Model, "sam_vit_shapes.pt", options);
        await server.StartAsync();
        return server;
    }

    /// <summary>The official best-scoring mask (highest predicted IoU) of the fixture case.</summary>
    public static (bool[] Mask, int H, int W) ReferenceBestMask()
    {
        var reference = Fixtures.Reference("sam_vit_shapes");
        var shape = reference[CaseName + ".masks.shape"].Integers!.Select(v => (int)v).ToArray();
        int h = shape[^2], w = shape[^1], count = shape.Aggregate(1, (a, b) => a * b);
        var all = Parity.UnpackBits(reference[CaseName + ".masks"], count);
        var iou = reference[CaseName + ".iou"].Floats;
        int best = 0;
        for (int i = 1; i < iou.Length; i++) if (iou[i] > iou[best]) best = i;
        return (all.AsSpan(best * h * w, h * w).ToArray(), h, w);
    }

    public static double IoU(ReadOnlySpan<bool> a, ReadOnlySpan<bool> b)
    {
        Assert.Equal(a.Length, b.Length);
        long inter = 0, union = 0;
        for (int i = 0; i < a.Length; i++)
        {
            if (a[i] && b[i]) inter++;
            if (a[i] || b[i]) union++;
        }
        return union == 0 ? 1 : (double)inter / union;
    }

    public static bool[] MaskFromJson(JsonElement rle)
    {
        var size = rle.GetProperty("size").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var countsEl = rle.GetProperty("counts");
        int[] counts = countsEl.ValueKind == JsonValueKind.String
            ? MaskRle.CountsFromString(countsEl.GetString()!)
            : countsEl.EnumerateArray().Select(e => e.GetInt32()).ToArray();
        return MaskRle.Decode(new CocoRle(size[0], size[1], counts));
    }

    public static async Task<JsonElement> PostJson(HttpClient http, string url, object body)
    {
        using var res = await http.PostAsJsonAsync(url, body);
        string text = await res.Content.ReadAsStringAsync();
        Assert.True(res.IsSuccessStatusCode, $"{url}: {(int)res.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    public static void DeleteQuietly(string dir)
    {
        AnnotationStoreRelease();
        try { Directory.Delete(dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static void AnnotationStoreRelease() => SegmentAnything.Server.Annotation.AnnotationStore.ReleaseFiles();
}
