using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using SegmentAnything.Tests.Support;

namespace SegmentAnything.Tests.Annotation;

/// <summary>"Segment everything" and category changes through the JSON API, on a real loopback server.</summary>
public class EverythingApiTests
{
    /// <summary>The fixture's <c>permissive</c> generator options, renamed to the API's camelCase.</summary>
    private static (Dictionary<string, JsonElement> Options, JsonElement Records) Permissive()
    {
        var doc = JsonDocument.Parse(File.ReadAllText(Fixtures.Path_("amg/sam_vit_shapes.json"))).RootElement;
        var cfg = doc.GetProperty("configs").GetProperty("permissive");
        var options = cfg.GetProperty("options").EnumerateObject().ToDictionary(p => Camel(p.Name), p => p.Value.Clone());
        return (options, cfg.GetProperty("records").Clone());
    }

    private static string Camel(string snake)
    {
        var parts = snake.Split('_');
        return parts[0] + string.Concat(parts.Skip(1).Select(p => char.ToUpperInvariant(p[0]) + p[1..]));
    }

    [SkippableFact]
    public async Task Everything_ReusesTheEmbedding_GivesTheOfficialMasks_AcceptAllStoresThem()
    {
        var (options, expected) = Permissive();
        string dir = AnnotationTestSupport.ImagesFolder("scene0.png");
        try
        {
            await using var server = await AnnotationTestSupport.StartAsync(dir);
            using var http = new HttpClient { BaseAddress = new Uri(server.Url) };
            Assert.True((await http.GetFromJsonAsync<JsonElement>("api/info")).GetProperty("segmentEverything").GetBoolean());
            await AnnotationTestSupport.PostJson(http, "api/images/1/embed", new { });
            Assert.Equal(1, server.Session.Embeddings.EncoderRuns);
            var encoder = await http.GetFromJsonAsync<JsonElement>("api/encoder");
            Assert.False(encoder.GetProperty("busy").GetBoolean());
            Assert.Equal(1, encoder.GetProperty("runs").GetInt32());
            Assert.True(encoder.GetProperty("estimatedMs").GetDouble() > 0); // the last run's duration

            var run = await AnnotationTestSupport.PostJson(http, "api/images/1/everything", options);
            Assert.Equal(1, server.Session.Embeddings.EncoderRuns); // the grid was decoded from the cached embedding
            Assert.Equal("memory", run.GetProperty("embeddingSource").GetString());
            var proposals = run.GetProperty("proposals");
            Assert.Equal(expected.GetArrayLength(), run.GetProperty("count").GetInt32());
            Assert.Equal(expected.GetArrayLength(), proposals.GetArrayLength());
            // Same masks as the official generator (order and boxes), each RLE decoding to its area.
            for (int i = 0; i < proposals.GetArrayLength(); i++)
            {
                var p = proposals[i];
                Assert.Equal(expected[i].GetProperty("bbox").EnumerateArray().Select(v => (int)v.GetDouble()), p.GetProperty("bbox").EnumerateArray().Select(v => v.GetInt32()));
                Assert.Equal(expected[i].GetProperty("area").GetInt64(), p.GetProperty("area").GetInt64());
                Assert.Equal(p.GetProperty("area").GetInt64(), AnnotationTestSupport.MaskFromJson(p.GetProperty("rle")).LongCount(b => b));
                Assert.InRange(p.GetProperty("predictedIou").GetDouble(), 0.4, 1.5);
                Assert.InRange(p.GetProperty("stabilityScore").GetDouble(), 0.6, 1.0);
            }
            var progress = await http.GetFromJsonAsync<JsonElement>("api/images/1/everything/progress");
            Assert.False(progress.GetProperty("running").GetBoolean());

            string set = run.GetProperty("proposalsId").GetString()!;
            using (var bad = await http.PostAsJsonAsync($"api/images/1/everything/{set}/accept", new { category = "shape", indices = new[] { 0, 99 } }))
                Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            Assert.Equal(0, (await http.GetFromJsonAsync<JsonElement>("api/images/1/annotations")).GetArrayLength());
            using (var unknown = await http.PostAsJsonAsync("api/images/1/everything/nope/accept", new { category = "shape" }))
                Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);

            var one = await AnnotationTestSupport.PostJson(http, $"api/images/1/everything/{set}/accept", new { category = "picked", indices = new[] { 2 } });
            Assert.Equal(1, one.GetArrayLength());
            var all = await AnnotationTestSupport.PostJson(http, $"api/images/1/everything/{set}/accept", new { category = "shape" });
            Assert.Equal(proposals.GetArrayLength(), all.GetArrayLength());
            var stored = await http.GetFromJsonAsync<JsonElement>("api/images/1/annotations");
            Assert.Equal(proposals.GetArrayLength() + 1, stored.GetArrayLength());
            Assert.All(stored.EnumerateArray(), a => Assert.Equal("everything", a.GetProperty("source").GetString()));
            Assert.Equal(proposals[2].GetProperty("area").GetInt64(), stored[0].GetProperty("area").GetInt64());
            Assert.Equal("picked", stored[0].GetProperty("category").GetString());
            CocoValidator.Validate(await http.GetFromJsonAsync<JsonElement>("api/export?format=coco"));
        }
        finally { AnnotationTestSupport.DeleteQuietly(dir); }
    }

    [SkippableFact]
    public async Task Everything_RefusesBadOptions()
    {
        string dir = AnnotationTestSupport.ImagesFolder("scene0.png");
        try
        {
            await using var server = await AnnotationTestSupport.StartAsync(dir);
            using var http = new HttpClient { BaseAddress = new Uri(server.Url) };
            foreach (object body in new object[] { new { pointsPerSide = 1000 }, new { pointsPerSide = 0 }, new { cropNLayers = 5 }, new { pointsPerBatch = 0 } })
            {
                using var res = await http.PostAsJsonAsync("api/images/1/everything", body);
                Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
                Assert.Contains("error", await res.Content.ReadAsStringAsync());
            }
            using (var malformed = await http.PostAsync("api/images/1/everything", new StringContent("{\"pointsPerSide\":", Encoding.UTF8, "application/json")))
                Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
            using (var missing = await http.PostAsJsonAsync("api/images/42/everything", new { }))
                Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
            Assert.Equal(0, server.Session.Embeddings.EncoderRuns); // refused before any work
        }
        finally { AnnotationTestSupport.DeleteQuietly(dir); }
    }

    [SkippableFact]
    public async Task Patch_ChangesTheCategoryOfAnAcceptedAnnotation()
    {
        string dir = AnnotationTestSupport.ImagesFolder("scene0.png");
        try
        {
            await using var server = await AnnotationTestSupport.StartAsync(dir);
            using var http = new HttpClient { BaseAddress = new Uri(server.Url) };
            var decode = await AnnotationTestSupport.PostJson(http, "api/images/1/decode",
                new { points = new[] { new[] { AnnotationTestSupport.ClickX, AnnotationTestSupport.ClickY } }, labels = new[] { 1 } });
            var accepted = await AnnotationTestSupport.PostJson(http, "api/images/1/annotations",
                new { category = "shape", decodeId = decode.GetProperty("decodeId").GetString(), index = decode.GetProperty("best").GetInt32() });
            long id = accepted.GetProperty("id").GetInt64();

            using (var res = await http.PatchAsJsonAsync($"api/annotations/{id}", new { category = "triangle" }))
            {
                Assert.Equal(HttpStatusCode.OK, res.StatusCode);
                var body = await res.Content.ReadFromJsonAsync<JsonElement>();
                Assert.Equal("triangle", body.GetProperty("category").GetString());
                Assert.Equal(accepted.GetProperty("area").GetInt64(), body.GetProperty("area").GetInt64());
            }
            var again = await http.GetFromJsonAsync<JsonElement>($"api/annotations/{id}");
            Assert.Equal("triangle", again.GetProperty("category").GetString());
            var categories = await http.GetFromJsonAsync<JsonElement>("api/categories");
            Assert.Contains(categories.EnumerateArray(), c => c.GetProperty("name").GetString() == "triangle");
            var coco = await http.GetFromJsonAsync<JsonElement>("api/export?format=coco");
            long triangleId = coco.GetProperty("categories").EnumerateArray().First(c => c.GetProperty("name").GetString() == "triangle").GetProperty("id").GetInt64();
            Assert.Equal(triangleId, coco.GetProperty("annotations")[0].GetProperty("category_id").GetInt64());

            using (var empty = await http.PatchAsJsonAsync($"api/annotations/{id}", new { category = "  " }))
                Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);
            using (var nothing = await http.PatchAsJsonAsync($"api/annotations/{id}", new { }))
                Assert.Equal(HttpStatusCode.BadRequest, nothing.StatusCode);
            using (var unknown = await http.PatchAsJsonAsync("api/annotations/999", new { category = "x" }))
                Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
            Assert.DoesNotContain((await http.GetFromJsonAsync<JsonElement>("api/categories")).EnumerateArray(), c => c.GetProperty("name").GetString() == "x");
        }
        finally { AnnotationTestSupport.DeleteQuietly(dir); }
    }
}
