using System.Globalization;

namespace SegmentAnything.Cli;

/// <summary>Parses prompt flags: <c>--point x,y[,label]</c> and <c>--box x0,y0,x1,y1</c>.</summary>
public static class PromptParsing
{
    public static (float X, float Y, int Label) ParsePoint(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length is < 2 or > 3 || !TryFloat(parts[0], out float x) || !TryFloat(parts[1], out float y))
            throw new CliException($"malformed point '{text}': expected x,y or x,y,label");
        int label = 1;
        if (parts.Length == 3 && !int.TryParse(parts[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out label))
            throw new CliException($"malformed point label in '{text}': expected an integer (1 foreground, 0 background)");
        return (x, y, label);
    }

    public static float[] ParseBox(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var box = new float[4];
        if (parts.Length != 4 || !parts.Select((p, i) => TryFloat(p, out box[i])).All(ok => ok))
            throw new CliException($"malformed box '{text}': expected x0,y0,x1,y1");
        return box;
    }

    private static bool TryFloat(string s, out float v) =>
        float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out v) && float.IsFinite(v);
}
