using System.Net.Http.Json;
using System.Text.Json;
using SegmentAnything.Tests.Support;

namespace SegmentAnything.Tests.Annotation;

/// <summary><c>sam serve</c> and <c>sam export</c> as a user runs them.</summary>
public class ServeProcessTests
{
    [SkippableFact]
    public async Task AcceptedAnnotation_SurvivesKillDashNine_AndExports()
    {
        string checkpoint = Fixtures.Path_(AnnotationTestSupport.Checkpoint);
        string dir = AnnotationTestSupport.ImagesFolder("scene0.png");
        string db = Path.Combine(CliHarness.TempDir(), "project.db");
        try
        {
            long annotationId;
            using (var serve = ServeProcess.Start("--images", dir, "--checkpoint", checkpoint, "--db", db))
            {
                Assert.StartsWith("http://127.0.0.1:", serve.Url);
                using var http = new HttpClient { BaseAddress = new Uri(serve.Url) };
                var decode = await AnnotationTestSupport.PostJson(http, "api/images/1/decode", new { points = new[] { new[] { 135, 150 } }, labels = new[] { 1 } });
                var accepted = await AnnotationTestSupport.PostJson(http, "api/images/1/annotations",
                    new { category = "survivor", decodeId = decode.GetProperty("decodeId").GetString(), index = decode.GetProperty("best").GetInt32() });
                annotationId = accepted.GetProperty("id").GetInt64();
                serve.KillHard(); // right after the response: nothing gets a chance to flush
            }
            using (var serve = ServeProcess.Start("--images", dir, "--checkpoint", checkpoint, "--db", db))
            {
                using var http = new HttpClient { BaseAddress = new Uri(serve.Url) };
                var anns = await http.GetFromJsonAsync<JsonElement>("api/images/1/annotations");
                var ann = Assert.Single(anns.EnumerateArray());
                Assert.Equal(annotationId, ann.GetProperty("id").GetInt64());
                Assert.Equal("survivor", ann.GetProperty("category").GetString());
                serve.KillHard();
            }
            Assert.False(Directory.Exists(Path.Combine(dir, ".sam")), "with --db the images folder must stay untouched");

            string outFile = Path.Combine(Path.GetDirectoryName(db)!, "coco.json");
            var r = CliHarness.Run("export", "--db", db, "--format", "coco", "--polygons", "-o", outFile);
            Assert.True(r.ExitCode == 0, r.StdErr);
            var coco = JsonDocument.Parse(File.ReadAllText(outFile)).RootElement;
            CocoValidator.Validate(coco);
            Assert.Equal(annotationId, coco.GetProperty("annotations")[0].GetProperty("id").GetInt64());
            var sa1b = CliHarness.Run("export", "--db", db, "--format", "sa1b", "-o", Path.Combine(Path.GetDirectoryName(db)!, "sa1b"));
            Assert.True(sa1b.ExitCode == 0, sa1b.StdErr);
            Assert.True(File.Exists(Path.Combine(Path.GetDirectoryName(db)!, "sa1b", "scene0.json")));
        }
        finally
        {
            AnnotationTestSupport.DeleteQuietly(dir);
            AnnotationTestSupport.DeleteQuietly(Path.GetDirectoryName(db)!);
        }
    }

    [Fact]
    public void Serve_And_Export_RefuseBadArguments_OnOneLine()
    {
        string dir = CliHarness.TempDir();
        try
        {
            var r = CliHarness.Run("serve", "--images", Path.Combine(dir, "missing"), "--checkpoint", "x.pt");
            Assert.Equal(1, r.ExitCode);
            Assert.Contains("does not exist", r.StdErr);
            r = CliHarness.Run("serve", "--images", dir);
            Assert.Equal(1, r.ExitCode);
            Assert.Contains("a model is required", r.StdErr);
            r = CliHarness.Run("export", "--db", Path.Combine(dir, "none.db"), "-o", Path.Combine(dir, "o.json"));
            Assert.Equal(1, r.ExitCode);
            Assert.Contains("does not exist", r.StdErr);
            File.WriteAllText(Path.Combine(dir, "junk.db"), "this is not a database, just text that is long enough to be read as a header");
            r = CliHarness.Run("export", "--db", Path.Combine(dir, "junk.db"), "--format", "coco", "-o", Path.Combine(dir, "o.json"));
            Assert.Equal(1, r.ExitCode);
            Assert.Single(r.StdErr.Trim().Split('\n'));
            r = CliHarness.Run("export", "--db", Path.Combine(dir, "junk.db"), "--format", "yolo", "-o", Path.Combine(dir, "o.json"));
            Assert.Equal(1, r.ExitCode);
            Assert.Contains("Unknown export format", r.StdErr);
        }
        finally { AnnotationTestSupport.DeleteQuietly(dir); }
    }
}
