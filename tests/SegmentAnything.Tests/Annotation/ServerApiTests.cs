using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using SegmentAnything.Tests.Support;

namespace SegmentAnything.Tests.Annotation;

/// <summary>The JSON API against a real Kestrel server on a free loopback port.</summary>
public class ServerApiTests
{
    private static string Scene0 => "scene0.png";

    [SkippableFact]
    public async Task Decode_GivesTheOfficialMask_AcceptPersists_ExportIsValid()
    {
        string dir = AnnotationTestSupport.ImagesFolder(Scene0, "scene1.png");
        try
        {
            await using (var server = await AnnotationTestSupport.StartAsync(dir))
            {
                Assert.StartsWith("http://127.0.0.1:", server.Url);
                using var http = new HttpClient { BaseAddress = new Uri(server.Url) };
                var images = await http.GetFromJsonAsync<JsonElement>("api/images");
                Assert.Equal(2, images.GetArrayLength());
                long id = images.EnumerateArray().First(i => i.GetProperty("fileName").GetString() == Scene0).GetProperty("id").GetInt64();

                var embed = await AnnotationTestSupport.PostJson(http, $"api/images/{id}/embed", new { });
                Assert.Equal("computed", embed.GetProperty("source").GetString());
                Assert.Equal("memory", (await AnnotationTestSupport.PostJson(http, $"api/images/{id}/embed", new { })).GetProperty("source").GetString());

                var body = new { points = new[] { new[] { AnnotationTestSupport.ClickX, AnnotationTestSupport.ClickY } }, labels = new[] { 1 }, multimask = true };
                var decode = await AnnotationTestSupport.PostJson(http, $"api/images/{id}/decode", body);
                var masks = decode.GetProperty("masks");
                Assert.Equal(3, masks.GetArrayLength());
                int best = decode.GetProperty("best").GetInt32();
                var (reference, h, w) = AnnotationTestSupport.ReferenceBestMask();
                var mask = AnnotationTestSupport.MaskFromJson(masks[best].GetProperty("rle"));
                double iou = AnnotationTestSupport.IoU(mask, reference);
                Assert.True(iou > 0.99, $"IoU with the official mask {iou:F4}");

                // Refinement with the previous logits as mask input.
                var refine = await AnnotationTestSupport.PostJson(http, $"api/images/{id}/decode", new
                {
                    points = new[] { new[] { 135, 150 }, new[] { 300, 60 } }, labels = new[] { 1, 0 },
                    maskInput = new { decodeId = decode.GetProperty("decodeId").GetString(), index = best }, multimask = false,
                });
                Assert.Equal(1, refine.GetProperty("masks").GetArrayLength());

                var accepted = await AnnotationTestSupport.PostJson(http, $"api/images/{id}/annotations",
                    new { category = "shape", decodeId = decode.GetProperty("decodeId").GetString(), index = best });
                Assert.Equal(mask.LongCount(b => b), accepted.GetProperty("area").GetInt64());
                Assert.Equal("shape", accepted.GetProperty("category").GetString());

                var coco = await http.GetFromJsonAsync<JsonElement>("api/export?format=coco");
                CocoValidator.Validate(coco);
                var polys = await http.GetFromJsonAsync<JsonElement>("api/export?format=coco&polygons=true&tolerance=2");
                CocoValidator.Validate(polys);
                Assert.Equal(1, coco.GetProperty("annotations").GetArrayLength());
                var sa1b = await http.GetFromJsonAsync<JsonElement>("api/export?format=sa1b");
                Assert.Equal(2, sa1b.GetArrayLength());
                using (var zip = await http.GetAsync("api/export?format=png"))
                    Assert.Equal("application/zip", zip.Content.Headers.ContentType!.MediaType);
                Assert.Equal(1, (await http.GetFromJsonAsync<JsonElement>($"api/images/{id}")).GetProperty("annotations").GetInt32());

                using var page = await http.GetAsync("");
                Assert.Contains("app.js", await page.Content.ReadAsStringAsync());
            }
            // A restarted server finds the annotation and the embedding on disk.
            await using (var again = await AnnotationTestSupport.StartAsync(dir))
            {
                using var http = new HttpClient { BaseAddress = new Uri(again.Url) };
                var anns = await http.GetFromJsonAsync<JsonElement>("api/images/1/annotations");
                Assert.Equal(1, anns.GetArrayLength());
                Assert.Equal("disk", (await AnnotationTestSupport.PostJson(http, "api/images/1/embed", new { })).GetProperty("source").GetString());
                using var del = await http.DeleteAsync($"api/annotations/{anns[0].GetProperty("id").GetInt64()}");
                Assert.Equal(HttpStatusCode.NoContent, del.StatusCode);
                Assert.Equal(0, (await http.GetFromJsonAsync<JsonElement>("api/images/1/annotations")).GetArrayLength());
            }
        }
        finally { AnnotationTestSupport.DeleteQuietly(dir); }
    }

    [SkippableFact]
    public async Task BadRequests_Get4xxWithAMessage_AndNothingOutsideIsServed()
    {
        string dir = AnnotationTestSupport.ImagesFolder(Scene0);
        string outside = CliHarness.TempDir();
        File.WriteAllText(Path.Combine(outside, "secret.png"), "top secret");
        File.CreateSymbolicLink(Path.Combine(dir, "link.png"), Path.Combine(outside, "secret.png"));
        Directory.CreateSymbolicLink(Path.Combine(dir, "linkdir"), outside);
        try
        {
            await using var server = await AnnotationTestSupport.StartAsync(dir, maxUpload: 1 << 20);
            using var http = new HttpClient { BaseAddress = new Uri(server.Url) };
            Assert.Equal(1, (await http.GetFromJsonAsync<JsonElement>("api/images")).GetArrayLength());

            async Task Expect(HttpStatusCode status, HttpRequestMessage request)
            {
                using var res = await http.SendAsync(request);
                string text = await res.Content.ReadAsStringAsync();
                Assert.True(status == res.StatusCode, $"{request.Method} {request.RequestUri}: expected {(int)status}, got {(int)res.StatusCode} {text}");
                Assert.DoesNotContain("top secret", text);
                if (status != HttpStatusCode.NotFound || request.RequestUri!.ToString().StartsWith("api"))
                    Assert.False(string.IsNullOrWhiteSpace(JsonDocument.Parse(text).RootElement.GetProperty("error").GetString()));
            }
            HttpRequestMessage Get(string url) => new(HttpMethod.Get, url);
            HttpRequestMessage Post(string url, string json) => new(HttpMethod.Post, url) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
            HttpRequestMessage Upload(string name, byte[] bytes) => new(HttpMethod.Post, $"api/images?name={Uri.EscapeDataString(name)}") { Content = new ByteArrayContent(bytes) };

            await Expect(HttpStatusCode.NotFound, Get("api/images/42"));
            await Expect(HttpStatusCode.BadRequest, Get("api/images/-1"));
            await Expect(HttpStatusCode.NotFound, Post("api/images/42/embed", "{}"));
            await Expect(HttpStatusCode.NotFound, Get("api/annotations/9"));
            await Expect(HttpStatusCode.BadRequest, Post("api/images/1/decode", "{\"points\": [[1,"));
            await Expect(HttpStatusCode.BadRequest, Post("api/images/1/decode", "[1,2]"));
            await Expect(HttpStatusCode.BadRequest, Post("api/images/1/decode", "{\"points\": [[900, 10]], \"labels\": [1]}"));
            await Expect(HttpStatusCode.BadRequest, Post("api/images/1/decode", "{\"points\": [[-1, 10]], \"labels\": [1]}"));
            await Expect(HttpStatusCode.BadRequest, Post("api/images/1/decode", "{\"box\": [0, 0, 10, 500]}"));
            await Expect(HttpStatusCode.BadRequest, Post("api/images/1/decode", "{\"points\": [[1, 1]], \"labels\": [7]}"));
            await Expect(HttpStatusCode.BadRequest, Post("api/images/1/decode", "{}"));
            await Expect(HttpStatusCode.NotFound, Post("api/images/1/decode", "{\"points\": [[1, 1]], \"maskInput\": {\"decodeId\": \"nope\", \"index\": 0}}"));
            await Expect(HttpStatusCode.BadRequest, Post("api/images/1/annotations", "{\"category\": \"x\"}"));
            await Expect(HttpStatusCode.NotFound, Post("api/images/1/annotations", "{\"category\": \"x\", \"decodeId\": \"nope\"}"));
            await Expect(HttpStatusCode.BadRequest, Post("api/images/1/annotations", "{\"category\": \"x\", \"segmentation\": {\"size\": [360, 480], \"counts\": [1, 2]}}"));
            await Expect(HttpStatusCode.BadRequest, Get("api/export?format=yolo"));

            // Paths that try to leave the folder, and links out of it.
            foreach (string p in new[] { "../secret.png", "..%2Fsecret.png", "%2Fetc%2Fpasswd", "link.png", "linkdir%2Fsecret.png", "scene0.png%00.png" })
                await Expect(HttpStatusCode.Forbidden, Get($"api/file?path={p}"));
            using (var ok = await http.GetAsync("api/file?path=scene0.png"))
            {
                Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
                Assert.Equal(File.ReadAllBytes(Path.Combine(dir, Scene0)), await ok.Content.ReadAsByteArrayAsync());
            }
            using (var raw = await http.GetAsync("../../../../etc/passwd"))
                Assert.NotEqual(HttpStatusCode.OK, raw.StatusCode);

            // Uploads: not an image, too large, bad names; a real one is added.
            await Expect(HttpStatusCode.UnsupportedMediaType, Upload("fake.png", Encoding.UTF8.GetBytes("not a png at all")));
            // Refused from its Content-Length before the body is read: the client sees 413, or a reset
            // connection when it is still sending; either way nothing is written and the server goes on.
            // The server then closes that connection, so the attempt gets a client of its own.
            using (var once = new HttpClient { BaseAddress = new Uri(server.Url) })
            {
                try
                {
                    using var big = await once.SendAsync(Upload("big.png", new byte[(1 << 20) + 10]));
                    Assert.Equal(HttpStatusCode.RequestEntityTooLarge, big.StatusCode);
                    Assert.Contains("bytes", JsonDocument.Parse(await big.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString());
                }
                catch (HttpRequestException) { }
            }
            await Expect(HttpStatusCode.Forbidden, Upload("../escape.png", File.ReadAllBytes(Path.Combine(dir, Scene0))));
            await Expect(HttpStatusCode.Conflict, Upload("scene0.png", File.ReadAllBytes(Path.Combine(dir, Scene0))));
            Assert.False(File.Exists(Path.Combine(dir, "fake.png")) || File.Exists(Path.Combine(dir, "big.png")) || File.Exists(Path.Combine(Path.GetDirectoryName(dir)!, "escape.png")));
            using (var up = await http.SendAsync(Upload("copy.png", File.ReadAllBytes(Path.Combine(dir, Scene0)))))
                Assert.Equal(HttpStatusCode.Created, up.StatusCode);
            Assert.Equal(2, (await http.GetFromJsonAsync<JsonElement>("api/images")).GetArrayLength());
        }
        finally
        {
            AnnotationTestSupport.DeleteQuietly(dir);
            Directory.Delete(outside, true);
        }
    }
}
