using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.Playwright;
using SegmentAnything.Imaging;
using SegmentAnything.Tests.Support;

namespace SegmentAnything.Tests.Annotation;

/// <summary>
/// The page in headless Chromium (Debian's package; no browser is ever downloaded): open a scene, click
/// the fixture point, compare the drawn mask with the official one, accept, export COCO, read the row.
/// </summary>
public class BrowserTests
{
    private const string ChromiumPath = "/usr/bin/chromium";

    private static readonly string[] ChromiumArgs =
        ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"];

    [SkippableFact]
    public async Task ClickSegmentsLikeTheOfficialModel_AcceptStoresIt_ExportIsValidCoco()
    {
        if (!File.Exists(ChromiumPath))
        {
            string msg = $"{ChromiumPath} is not installed (apt-get install chromium; .ci/run does it).";
            if (Fixtures.IsCi) throw new InvalidOperationException(msg);
            Skip.If(true, msg);
        }
        var (reference, h, w) = AnnotationTestSupport.ReferenceBestMask();
        string dir = AnnotationTestSupport.ImagesFolder("scene0.png", "scene1.png");
        string db = Path.Combine(dir, ".sam", "annotations.db");
        try
        {
            await using var server = await AnnotationTestSupport.StartAsync(dir, db);
            using var playwright = await Playwright.CreateAsync();
            await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = ChromiumPath,
                Headless = true,
                Args = ChromiumArgs,
                Timeout = 60_000,
            });
            var context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 }, AcceptDownloads = true });
            var page = await context.NewPageAsync();
            page.SetDefaultTimeout(60_000);
            var consoleErrors = new List<string>();
            page.Console += (_, m) => { if (m.Type == "error") consoleErrors.Add($"{m.Text} ({m.Location})"); };
            page.PageError += (_, e) => consoleErrors.Add(e);

            await page.GotoAsync(server.Url);
            await page.Locator("#image-list li", new() { HasText = "scene0.png" }).ClickAsync();
            await page.WaitForSelectorAsync("#stage[data-state=ready]");

            var box = (await page.Locator("#ui-layer").BoundingBoxAsync())!;
            await page.Mouse.ClickAsync(box.X + AnnotationTestSupport.ClickX * box.Width / w, box.Y + AnnotationTestSupport.ClickY * box.Height / h);
            await page.WaitForFunctionAsync("() => +document.getElementById('stage').dataset.decodes >= 1");
            Assert.Equal(3, await page.Locator("#candidates button").CountAsync());

            string bits = await page.EvaluateAsync<string>("""
                () => {
                  const c = document.getElementById('mask-layer');
                  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  let s = '';
                  for (let i = 3; i < d.length; i += 4) s += d[i] > 0 ? '1' : '0';
                  return s;
                }
                """);
            Assert.Equal(h * w, bits.Length);
            bool[] drawn = bits.Select(ch => ch == '1').ToArray();
            double iou = AnnotationTestSupport.IoU(drawn, reference);
            Assert.True(iou > 0.99, $"drawn mask vs official best mask: IoU {iou:F4}");

            await page.FillAsync("#category", "triangle");
            await page.ClickAsync("#accept");
            await page.WaitForSelectorAsync("#stage[data-accepted]");
            Assert.Equal(1, await page.Locator("#annotation-list li").CountAsync());

            var download = await page.RunAndWaitForDownloadAsync(() => page.ClickAsync("#export-coco"));
            string cocoPath = Path.Combine(dir, "..", Path.GetFileName(dir) + "-coco.json");
            await download.SaveAsAsync(cocoPath);
            var coco = JsonDocument.Parse(File.ReadAllText(cocoPath)).RootElement;
            File.Delete(cocoPath);
            CocoValidator.Validate(coco);
            var ann = Assert.Single(coco.GetProperty("annotations").EnumerateArray());
            var exported = AnnotationTestSupport.MaskFromJson(ann.GetProperty("segmentation"));
            Assert.Equal(drawn, exported);

            using (var c = new SqliteConnection($"Data Source={db};Mode=ReadOnly;Pooling=False"))
            {
                c.Open();
                using var cmd = c.CreateCommand();
                cmd.CommandText = "SELECT c.name, a.area, a.rle_counts, a.rle_height, a.rle_width, a.predicted_iou, a.prompts, a.model FROM annotations a JOIN categories c ON c.id = a.category_id;";
                using var r = cmd.ExecuteReader();
                Assert.True(r.Read());
                Assert.Equal("triangle", r.GetString(0));
                Assert.Equal(drawn.LongCount(b => b), r.GetInt64(1));
                Assert.Equal(drawn, MaskRle.Decode(new CocoRle(r.GetInt32(3), r.GetInt32(4), MaskRle.CountsFromString(r.GetString(2)))));
                Assert.InRange(r.GetDouble(5), 0, 1.5);
                Assert.Contains("[135,150]", r.GetString(6).Replace(" ", ""));
                Assert.Equal("sam_vit_shapes.pt", r.GetString(7));
                Assert.False(r.Read());
            }

            // Segment everything with the fixture's permissive thresholds (the official defaults find nothing
            // with this small model): reject the highlighted proposal with X, accept the rest with Shift+Y.
            int expected = JsonDocument.Parse(File.ReadAllText(Fixtures.Path_("amg/sam_vit_shapes.json"))).RootElement
                .GetProperty("configs").GetProperty("permissive").GetProperty("records").GetArrayLength();
            await page.ClickAsync("#everything-options summary");
            await page.FillAsync("#opt-iou", "0.4");
            await page.FillAsync("#opt-stability", "0.6");
            await page.ClickAsync("#image-title"); // leave the inputs so the shortcut reaches the page
            await page.Keyboard.PressAsync("e");
            try { await page.WaitForFunctionAsync($"() => +document.getElementById('stage').dataset.proposals === {expected}", null, new() { Timeout = 30_000 }); }
            catch (TimeoutException) { Assert.Fail($"no proposals; status: {await page.TextContentAsync("#status")}; proposals {await page.EvaluateAsync<string>("() => document.getElementById('stage').dataset.proposals")}"); }
            Assert.Equal(expected, await page.Locator("#proposal-list li").CountAsync());
            await page.Keyboard.PressAsync("x");
            Assert.Equal(expected - 1, await page.Locator("#proposal-list li").CountAsync());
            await page.Keyboard.PressAsync("Shift+Y");
            await page.WaitForFunctionAsync("() => document.getElementById('stage').dataset.proposals === '0'");
            try { await page.WaitForFunctionAsync($"() => document.querySelectorAll('#annotation-list li').length === {expected}", null, new() { Timeout = 20_000 }); }
            catch (TimeoutException) { Assert.Fail($"status: {await page.TextContentAsync("#status")}; list {await page.Locator("#annotation-list li").CountAsync()}"); }
            using (var http = new HttpClient { BaseAddress = new Uri(server.Url) })
            {
                var stored = JsonDocument.Parse(await http.GetStringAsync("api/images/1/annotations")).RootElement;
                Assert.Equal(expected - 1, stored.EnumerateArray().Count(a => a.GetProperty("source").GetString() == "everything"));
            }
            Assert.Empty(consoleErrors);
        }
        finally { AnnotationTestSupport.DeleteQuietly(dir); }
    }
}
