using System.Text.Json;

namespace SegmentAnything.Tests.Support;

/// <summary>One prompt case of fixtures/manifest.json, parsed into our prompt types.</summary>
public sealed record ManifestCase(string Name, IReadOnlyList<Prompt> Prompts, bool Multimask, string? MaskInputFrom, bool Batched)
{
    public static ManifestCase Parse(JsonElement c)
    {
        string name = c.GetProperty("name").GetString()!;
        bool multimask = c.TryGetProperty("multimask", out var mm) && mm.GetBoolean();
        string? maskFrom = c.TryGetProperty("mask_input", out var mi) ? mi.GetString()!.Split('.')[0] : null;
        if (c.TryGetProperty("batch_boxes", out var bb))
            return new(name, bb.EnumerateArray().Select(b => new Prompt(Box: Floats(b))).ToList(), multimask, maskFrom, true);
        if (c.TryGetProperty("batch_points", out var bp))
        {
            var labels = c.GetProperty("batch_labels").EnumerateArray().Select(Ints).ToList();
            return new(name, bp.EnumerateArray().Select((p, i) => new Prompt(p.EnumerateArray().SelectMany(Floats).ToArray(), labels[i])).ToList(), multimask, maskFrom, true);
        }
        float[]? points = c.TryGetProperty("points", out var pts) ? pts.EnumerateArray().SelectMany(Floats).ToArray() : null;
        int[]? lab = c.TryGetProperty("labels", out var l) ? Ints(l) : null;
        float[]? box = c.TryGetProperty("box", out var bx) ? Floats(bx) : null;
        return new(name, [new Prompt(points, lab, box)], multimask, maskFrom, false);
    }

    public static IEnumerable<(string Model, JsonElement Entry)> Models(string? family = null)
    {
        foreach (var m in Fixtures.Manifest.GetProperty("models").EnumerateObject())
            if (family is null || m.Value.GetProperty("family").GetString() == family) yield return (m.Name, m.Value);
    }

    private static float[] Floats(JsonElement e) => e.EnumerateArray().Select(v => v.GetSingle()).ToArray();
    private static int[] Ints(JsonElement e) => e.EnumerateArray().Select(v => v.GetInt32()).ToArray();
}
