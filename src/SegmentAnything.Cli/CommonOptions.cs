using System.CommandLine;

namespace SegmentAnything.Cli;

/// <summary>Options shared by several commands, and the model loading they imply.</summary>
public static class CommonOptions
{
    public static Option<string?> Checkpoint() => new("--checkpoint", "-c") { Description = "Checkpoint file (.pt/.pth or .safetensors) of SAM, MobileSAM or EfficientSAM." };

    public static Option<string?> Model() => new("--model", "-m")
    {
        Description = $"Official model to use instead of --checkpoint: {string.Join(", ", ModelCatalog.Entries.Select(e => e.Name))} (cached in SAM_HOME, downloaded when absent).",
    };

    /// <summary>Checks the model flags before any file is read, so flag mistakes are reported first.</summary>
    public static void CheckModelChoice(ParseResult r, Option<string?> checkpoint, Option<string?> model)
    {
        string? c = r.GetValue(checkpoint), m = r.GetValue(model);
        if (c is not null && m is not null) throw new CliException("give either --checkpoint or --model, not both");
        if (c is null && m is null) throw new CliException("a model is required: --checkpoint FILE or --model NAME");
        if (m is not null) ModelCatalog.Find(m);
    }

    public static SamModel LoadModel(ParseResult r, Option<string?> checkpoint, Option<string?> model)
    {
        CheckModelChoice(r, checkpoint, model);
        string? c = r.GetValue(checkpoint), m = r.GetValue(model);
        string path = c ?? ModelCatalog.Resolve(m!);
        if (!File.Exists(path)) throw new CliException($"checkpoint '{path}' does not exist");
        return SamModel.Load(path);
    }

    public static string ExistingFile(string path, string what)
    {
        if (!File.Exists(path)) throw new CliException($"{what} '{path}' does not exist");
        return path;
    }
}
