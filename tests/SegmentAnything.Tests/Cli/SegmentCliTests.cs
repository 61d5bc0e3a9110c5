using System.Globalization;
using System.Text.Json;
using SegmentAnything.Checkpoints;
using SegmentAnything.Imaging;
using SegmentAnything.Tests.Support;
using Xunit.Abstractions;

namespace SegmentAnything.Tests.Cli;

/// <summary>
/// The <c>sam segment</c> command end to end: every manifest case the CLI can express, run against
/// the fixture embedding, must reproduce the official logits; outputs and errors are checked too.
/// </summary>
public class SegmentCliTests(ITestOutputHelper output)
{
    public static TheoryData<string> Models => ["sam_vit_mini_random", "mobile_sam_random", "efficient_sam_vitt_random", "sam_vit_shapes"];

    [SkippableTheory]
    [MemberData(nameof(Models))]
    public void EveryExpressibleCaseMatchesOfficialLogits(string model)
    {
        var entry = Fixtures.Manifest.GetProperty("models").GetProperty(model);
        string image = Fixtures.Path_(entry.TryGetProperty("image", out var im) ? im.GetString()! : Fixtures.Manifest.GetProperty("image").GetString()!);
        string checkpoint = Fixtures.Path_(entry.GetProperty("checkpoint").GetString()!);
        string reference = Fixtures.Path_($"reference/{model}.safetensors");
        var refFile = Fixtures.Reference(model);
        bool efficient = entry.GetProperty("family").GetString() == "efficient_sam";
        string dir = CliHarness.TempDir();
        int ran = 0;
        foreach (var c in entry.GetProperty("cases").EnumerateArray())
        {
            string name = c.GetProperty("name").GetString()!;
            var args = new List<string> { "segment", image, "--checkpoint", checkpoint, "--embedding", reference, "-o", Path.Combine(dir, name), "--logits", Path.Combine(dir, name + ".safetensors") };
            if (!AddPrompt(c, efficient, args, dir)) continue;
            var r = CliHarness.Run([.. args]);
            Assert.True(r.ExitCode == 0, $"{name}: exit {r.ExitCode}: {r.StdErr}");
            var logits = SafeTensors.Read(Path.Combine(dir, name + ".safetensors"));
            var expected = refFile[name + ".low_res_logits"].Floats;
            var actual = logits["low_res_logits"].Floats;
            if (efficient && actual.Length != expected.Length) actual = logits["low_res_logits"].Floats;
            Assert.Equal(expected.Length, actual.Length);
            double err = Parity.RelativeL2(actual, expected);
            double iouErr = Parity.RelativeL2(logits["iou"].Floats, refFile[name + ".iou"].Floats);
            output.WriteLine($"{name}: logits {err:E2}, iou {iouErr:E2}");
            Assert.True(err < 1e-4, $"{name}: logits relative L2 {err:E3}");
            Assert.True(iouErr < 1e-4, $"{name}: iou relative L2 {iouErr:E3}");
            int count = logits["iou"].Floats.Length;
            for (int i = 0; i < count; i++) Assert.True(File.Exists(Path.Combine(dir, name, $"mask_{i}.png")));
            Assert.True(File.Exists(Path.Combine(dir, name, "overlay.png")));
            using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, name, "masks.json")));
            Assert.Equal(count, json.RootElement.GetProperty("masks").GetArrayLength());
            ran++;
        }
        Assert.True(ran >= 3, $"only {ran} cases could be expressed");
        Directory.Delete(dir, true);
    }

    /// <summary>Translates a manifest case into flags; false for batched cases the CLI does not express.</summary>
    private static bool AddPrompt(JsonElement c, bool efficient, List<string> args, string dir)
    {
        if (c.TryGetProperty("batch_boxes", out _) || c.TryGetProperty("batch_points", out _)) return false;
        static string F(JsonElement v) => v.GetSingle().ToString("R", CultureInfo.InvariantCulture);
        if (efficient)
        {
            var queries = c.GetProperty("points");
            if (queries.GetArrayLength() != 1) return false;
            var labels = c.GetProperty("labels")[0].EnumerateArray().ToList();
            int i = 0;
            foreach (var p in queries[0].EnumerateArray())
            {
                int label = labels[i++].GetInt32();
                if (label == -1) continue;
                args.AddRange(["--point", $"{F(p[0])},{F(p[1])},{label}"]);
            }
            args.Add("--multimask");
            return true;
        }
        if (c.TryGetProperty("points", out var pts))
        {
            var labels = c.GetProperty("labels").EnumerateArray().ToList();
            int i = 0;
            foreach (var p in pts.EnumerateArray()) args.AddRange(["--point", $"{F(p[0])},{F(p[1])},{labels[i++].GetInt32()}"]);
        }
        if (c.TryGetProperty("box", out var b)) args.AddRange(["--box", string.Join(",", b.EnumerateArray().Select(F))]);
        if (c.TryGetProperty("mask_input", out var mi))
        {
            // The official case feeds back the best low-res logits of an earlier case, as --logits wrote them.
            string from = mi.GetString()!.Split('.')[0];
            args.AddRange(["--mask-input", Path.Combine(dir, from + ".safetensors")]);
        }
        if (c.GetProperty("multimask").GetBoolean()) args.Add("--multimask");
        return true;
    }

    [SkippableFact]
    public void SegmentWithoutEmbeddingGivesTheSameMasksFromPngAndWorksFromJpeg()
    {
        string image = Fixtures.Path_("reference/image.png");
        string checkpoint = Fixtures.Path_("models/sam_vit_mini_random.pt");
        string dir = CliHarness.TempDir();
        var withEmb = CliHarness.Run("segment", image, "-c", checkpoint, "-e", Fixtures.Path_("reference/sam_vit_mini_random.safetensors"), "-p", "400,267", "--multimask", "-o", Path.Combine(dir, "a"));
        var without = CliHarness.Run("segment", image, "-c", checkpoint, "-p", "400,267", "--multimask", "-o", Path.Combine(dir, "b"));
        Assert.True(withEmb.ExitCode == 0, withEmb.StdErr);
        Assert.True(without.ExitCode == 0, without.StdErr);
        for (int i = 0; i < 3; i++)
        {
            var a = ImageIO.Load(Path.Combine(dir, "a", $"mask_{i}.png"));
            var b = ImageIO.Load(Path.Combine(dir, "b", $"mask_{i}.png"));
            int diff = a.Pixels.Zip(b.Pixels).Count(p => p.First != p.Second) / 3;
            Assert.True(diff <= 20, $"mask {i}: {diff} pixels differ between the fixture embedding and our encoder");
        }
        string truck = Fixtures.Path_("../images/truck.jpg");
        var jpeg = CliHarness.Run("segment", truck, "-c", checkpoint, "--box", "100,100,900,700", "-o", Path.Combine(dir, "truck"));
        Assert.True(jpeg.ExitCode == 0, jpeg.StdErr);
        var mask = ImageIO.Load(Path.Combine(dir, "truck", "mask_0.png"));
        Assert.Equal((1800, 1200), (mask.Width, mask.Height));
        Directory.Delete(dir, true);
    }

    [SkippableFact]
    public void EmbedThenSegmentReusesTheEmbeddingAndRefusesMismatches()
    {
        string image = Fixtures.Path_("scenes/scene0.png");
        string shapes = Fixtures.Path_("models/sam_vit_shapes.pt");
        string dir = CliHarness.TempDir();
        string emb = Path.Combine(dir, "e.safetensors");
        var r = CliHarness.Run("embed", image, "-c", shapes, "-o", emb);
        Assert.True(r.ExitCode == 0, r.StdErr);
        var file = SafeTensors.Read(emb);
        Assert.Equal([1, 128, 16, 16], file["embedding"].Shape);
        Assert.Equal([360L, 480L], file["image_hw"].Integers!);
        Assert.Equal([192L, 256L], file["input_hw"].Integers!);
        Assert.StartsWith("sam_vit(", file.Metadata["architecture"]);
        double err = Parity.RelativeL2(file["embedding"].Floats, Fixtures.Reference("sam_vit_shapes")["embedding"].Floats);
        Assert.True(err < 1e-4, $"embedding relative L2 {err:E3}");

        var ok = CliHarness.Run("segment", image, "-c", shapes, "-e", emb, "-p", "135,150", "-o", Path.Combine(dir, "ok"));
        Assert.True(ok.ExitCode == 0, ok.StdErr);
        var otherArch = CliHarness.Run("segment", image, "-c", Fixtures.Path_("models/sam_vit_mini_random.pt"), "-e", emb, "-p", "135,150", "-o", Path.Combine(dir, "x"));
        Assert.NotEqual(0, otherArch.ExitCode);
        Assert.Contains("made by", otherArch.StdErr);
        var otherSize = CliHarness.Run("segment", Fixtures.Path_("reference/image.png"), "-c", shapes, "-e", emb, "-p", "10,10", "-o", Path.Combine(dir, "y"));
        Assert.NotEqual(0, otherSize.ExitCode);
        Assert.Contains("was made for a 480x360 image", otherSize.StdErr);
        Directory.Delete(dir, true);
    }
}
