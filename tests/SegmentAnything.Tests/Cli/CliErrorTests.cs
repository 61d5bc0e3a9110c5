using SegmentAnything.Tests.Support;

namespace SegmentAnything.Tests.Cli;

/// <summary>Bad input ends with one clear line on stderr and a non-zero exit code, never a stack trace.</summary>
public class CliErrorTests
{
    private static void AssertOneLineError(CliHarness.Result r, string expected)
    {
        Assert.NotEqual(0, r.ExitCode);
        string err = r.StdErr.Trim();
        Assert.DoesNotContain('\n', err);
        Assert.DoesNotContain("   at ", err);
        Assert.Contains(expected, err, StringComparison.OrdinalIgnoreCase);
    }

    [SkippableFact]
    public void MissingCheckpoint() =>
        AssertOneLineError(CliHarness.Run("segment", Fixtures.Path_("reference/image.png"), "-c", "/nonexistent/model.pt", "-p", "1,1", "-o", CliHarness.TempDir()), "does not exist");

    [SkippableFact]
    public void MissingImage() =>
        AssertOneLineError(CliHarness.Run("segment", "/nonexistent/image.png", "-c", Fixtures.Path_("models/sam_vit_shapes.pt"), "-p", "1,1", "-o", CliHarness.TempDir()), "does not exist");

    [SkippableFact]
    public void UnreadableImage()
    {
        string dir = CliHarness.TempDir();
        string bad = Path.Combine(dir, "bad.png");
        File.WriteAllBytes(bad, [0x89, (byte)'P', (byte)'N', (byte)'G', 1, 2, 3]);
        AssertOneLineError(CliHarness.Run("segment", bad, "-c", Fixtures.Path_("models/sam_vit_shapes.pt"), "-p", "1,1", "-o", dir), "bad.png");
    }

    [SkippableTheory]
    [InlineData("12")]
    [InlineData("a,b")]
    [InlineData("1,2,x")]
    public void MalformedPoint(string point) =>
        AssertOneLineError(CliHarness.Run("segment", Fixtures.Path_("reference/image.png"), "-c", Fixtures.Path_("models/sam_vit_shapes.pt"), "-p", point, "-o", CliHarness.TempDir()), "malformed point");

    [SkippableFact]
    public void PointOutsideImage() =>
        AssertOneLineError(CliHarness.Run("segment", Fixtures.Path_("scenes/scene0.png"), "-c", Fixtures.Path_("models/sam_vit_shapes.pt"), "-p", "5000,10", "-o", CliHarness.TempDir()), "outside");

    [Fact]
    public void UnknownModel() =>
        AssertOneLineError(CliHarness.Run("segment", "x.png", "--model", "vit_z", "-p", "1,1", "-o", CliHarness.TempDir()), "unknown model 'vit_z'");

    [Fact]
    public void UnknownFlag() => AssertOneLineError(CliHarness.Run("segment", "--frobnicate"), "sam:");

    [Fact]
    public void HostileCheckpoint()
    {
        string dir = CliHarness.TempDir();
        string bad = Path.Combine(dir, "bad.pt");
        File.WriteAllBytes(bad, [(byte)'P', (byte)'K', 3, 4, 0, 0, 0]);
        AssertOneLineError(CliHarness.Run("info", bad), "bad.pt");
    }

    [SkippableFact]
    public void InfoDescribesTheCheckpoint()
    {
        var r = CliHarness.Run("info", Fixtures.Path_("models/mobile_sam_random.pt"));
        Assert.True(r.ExitCode == 0, r.StdErr);
        Assert.Contains("mobile_sam", r.StdOut);
        Assert.Contains("float16", r.StdOut);
        Assert.Contains("image_encoder", r.StdOut);
    }
}
