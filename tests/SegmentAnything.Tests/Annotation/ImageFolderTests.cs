using SegmentAnything.Server;
using SegmentAnything.Tests.Support;

namespace SegmentAnything.Tests.Annotation;

public class ImageFolderTests : IDisposable
{
    private readonly string _outside = CliHarness.TempDir();
    private readonly string _root = CliHarness.TempDir();

    public ImageFolderTests()
    {
        File.WriteAllText(Path.Combine(_outside, "secret.png"), "secret");
        File.WriteAllText(Path.Combine(_root, "a.png"), "a");
        Directory.CreateDirectory(Path.Combine(_root, "sub"));
        File.WriteAllText(Path.Combine(_root, "sub", "b.jpg"), "b");
        File.WriteAllText(Path.Combine(_root, "notes.txt"), "n");
        File.CreateSymbolicLink(Path.Combine(_root, "out.png"), Path.Combine(_outside, "secret.png"));
        Directory.CreateSymbolicLink(Path.Combine(_root, "outdir"), _outside);
        File.CreateSymbolicLink(Path.Combine(_root, "inside.png"), "sub/b.jpg");
        // A link whose target is spelled inside the folder but passes through a link that leaves it.
        File.CreateSymbolicLink(Path.Combine(_root, "sneaky.png"), Path.Combine(_root, "outdir", "secret.png"));
    }

    public void Dispose()
    {
        Directory.Delete(_root, true);
        Directory.Delete(_outside, true);
    }

    [Fact]
    public void Scan_ListsImagesInside_AndHidesLinksOut()
    {
        Assert.Equal(["a.png", "inside.png", "sub/b.jpg"], new ImageFolder(_root).Scan());
    }

    [Theory]
    [InlineData("../secret.png")]
    [InlineData("sub/../../secret.png")]
    [InlineData("/etc/passwd")]
    [InlineData("out.png")]
    [InlineData("outdir/secret.png")]
    [InlineData("sneaky.png")]
    [InlineData("sub\\..\\a.png")]
    [InlineData("a.png\0.png")]
    [InlineData("~/x.png")]
    public void Resolve_RefusesEveryWayOut(string path)
    {
        var e = Assert.Throws<ApiException>(() => new ImageFolder(_root).Resolve(path));
        Assert.Equal(403, e.Status);
    }

    [Fact]
    public void Resolve_AcceptsFilesAndLinksThatStayInside()
    {
        var folder = new ImageFolder(_root);
        Assert.Equal(Path.Combine(folder.RealRoot, "sub", "b.jpg"), folder.Resolve("inside.png"));
        Assert.Equal(Path.Combine(folder.RealRoot, "a.png"), folder.Resolve("a.png"));
        Assert.Equal(404, Assert.Throws<ApiException>(() => folder.Resolve("missing.png")).Status);
    }

    [Theory]
    [InlineData("../x.png", 403)]
    [InlineData("sub/x.png", 403)]
    [InlineData(".hidden.png", 403)]
    [InlineData("x.exe", 415)]
    [InlineData("a.png", 409)]
    [InlineData("out.png", 409)]
    public void NewFilePath_RefusesAnythingButAFreshPlainImageName(string name, int status)
    {
        Assert.Equal(status, Assert.Throws<ApiException>(() => new ImageFolder(_root).NewFilePath(name)).Status);
    }
}
