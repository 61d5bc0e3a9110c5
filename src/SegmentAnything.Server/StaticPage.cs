using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace SegmentAnything.Server;

/// <summary>Serves the page's few files from the assembly's embedded resources (no CDN, no file-system access).</summary>
internal static class StaticPage
{
    private static readonly Dictionary<string, string> Types = new()
    {
        [".html"] = "text/html; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
    };

    public static void Map(WebApplication app)
    {
        app.MapGet("/", () => Serve("index.html"));
        app.MapGet("/{file}", (string file) => Serve(file));
    }

    private static IResult Serve(string file)
    {
        var asm = typeof(StaticPage).Assembly;
        var stream = asm.GetManifestResourceStream("wwwroot/" + file);
        if (stream is null || !Types.TryGetValue(Path.GetExtension(file), out string? type)) return Results.NotFound(new { error = $"No page file '{file}'." });
        return Results.Stream(stream, type);
    }
}
